"""Spec-sheet figures of devices that are not here, for `dlbench estimate --device-profile`.

A profile gives a device's peak FLOP/s per dtype and its memory bandwidth as its maker
publishes them (dense figures: no structured sparsity), with the source of each figure. The
estimate scales this machine's measured efficiency curves (the GEMM rate per shape over the
measured peak, the bandwidth per size over the measured best) to the profile's figures, so a
profile answer is only as good as the spec sheet and the assumption that the device reaches
the same fraction of its peak: every such estimate says it is a spec-sheet estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlbench.errors import UserError

T = 1e12
G = 1e9


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    kind: str  # cpu or gpu
    description: str
    peak_flops_per_s: dict[str, float]  # per dtype (float32: IEEE, no TF32)
    bandwidth_bytes_per_s: float
    source: str  # where the figures come from


PROFILES = {
    p.name: p
    for p in (
        DeviceProfile(
            "h100-sxm",
            "gpu",
            "NVIDIA H100 SXM5 80 GB",
            {"float32": 67 * T, "tf32": 494.7 * T, "bfloat16": 989.4 * T},
            3.35e12,
            "NVIDIA H100 Tensor Core GPU datasheet (2023), dense figures",
        ),
        DeviceProfile(
            "h200",
            "gpu",
            "NVIDIA H200 SXM 141 GB",
            {"float32": 67 * T, "tf32": 494.7 * T, "bfloat16": 989.4 * T},
            4.8e12,
            "NVIDIA H200 Tensor Core GPU datasheet (2024), dense figures",
        ),
        DeviceProfile(
            "a100-sxm",
            "gpu",
            "NVIDIA A100 SXM4 80 GB",
            {"float32": 19.5 * T, "tf32": 156 * T, "bfloat16": 312 * T},
            2.039e12,
            "NVIDIA A100 Tensor Core GPU datasheet (2021), dense figures",
        ),
        DeviceProfile(
            "v100-sxm2",
            "gpu",
            "NVIDIA V100 SXM2 32 GB",
            {"float32": 15.7 * T, "float16": 125 * T},
            900 * G,
            "NVIDIA Tesla V100 GPU datasheet (2020)",
        ),
        DeviceProfile(
            "l4",
            "gpu",
            "NVIDIA L4 24 GB",
            {"float32": 30.3 * T, "tf32": 60 * T, "bfloat16": 121 * T},
            300 * G,
            "NVIDIA L4 Tensor Core GPU datasheet (2023), dense figures",
        ),
        DeviceProfile(
            "t4",
            "gpu",
            "NVIDIA T4 16 GB",
            {"float32": 8.1 * T, "float16": 65 * T},
            320 * G,
            "NVIDIA T4 Tensor Core GPU datasheet (2019)",
        ),
        DeviceProfile(
            "rtx-4090",
            "gpu",
            "NVIDIA GeForce RTX 4090 24 GB",
            {"float32": 82.6 * T, "bfloat16": 165.2 * T},
            1008 * G,
            "NVIDIA Ada Lovelace architecture whitepaper v1.1 (2023), Table 2, dense figures",
        ),
        DeviceProfile(
            "epyc-9654",
            "cpu",
            "AMD EPYC 9654 (96 cores, 2.4 GHz base, AVX-512 as two 256-bit halves)",
            # 96 cores x 2.4 GHz x 2 FMA units x 8 float32 lanes x 2 FLOPs
            {"float32": 96 * 2.4e9 * 2 * 8 * 2},
            460.8 * G,  # 12 channels of DDR5-4800
            "AMD EPYC 9004 series product page: cores, base clock, 12 x DDR5-4800",
        ),
        DeviceProfile(
            "xeon-8480",
            "cpu",
            "Intel Xeon Platinum 8480+ (56 cores, 2.0 GHz base, 2 AVX-512 FMA units)",
            # 56 cores x 2.0 GHz x 2 FMA units x 16 float32 lanes x 2 FLOPs
            {"float32": 56 * 2.0e9 * 2 * 16 * 2},
            307.2 * G,  # 8 channels of DDR5-4800
            "Intel ARK, Xeon Platinum 8480+: cores, base clock, 8 x DDR5-4800",
        ),
        DeviceProfile(
            "apple-m2",
            "cpu",
            "Apple M2 (4 performance cores at 3.5 GHz, 4 x 128-bit NEON FMA)",
            # 4 P-cores x 3.5 GHz x 4 FMA pipes x 4 float32 lanes x 2 FLOPs
            {"float32": 4 * 3.5e9 * 4 * 4 * 2},
            100 * G,
            "Apple M2 press release (2022): 100 GB/s unified memory; clock and pipes public",
        ),
    )
}


def profile(name: str) -> DeviceProfile:
    key = name.strip().lower()
    if key not in PROFILES:
        raise UserError(
            f"no device profile {name!r}: use one of {', '.join(PROFILES)} "
            "(`dlbench estimate --device-profile NAME`)"
        )
    return PROFILES[key]
