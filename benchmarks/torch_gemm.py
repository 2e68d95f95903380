"""torch's float32 products on this CPU: the ways torch offers to run them other than Intel MKL
(which torch calls for float32 `mm`/`addmm`, and which runs its slow generic path on an AMD
CPU), measured side by side against MKL in one process, interleaved:

- the plain product (float32 2048^3, GFLOP/s, best of the rounds): `torch.mm` (MKL), oneDNN
  through `torch.ops.mkldnn._linear_pointwise` (the op inductor's CPU lowering calls), and
  inductor's C++ GEMM template (`torch.compile(mode="max-autotune")`, backends "CPP,ATEN"),
  which inductor only offers for a constant weight, so it is timed frozen, for inference;
- MKL's own switches (`MKL_ENABLE_INSTRUCTIONS`, `MKL_CBWR`, `MKL_DEBUG_CPU_TYPE`), which MKL
  reads once at load: each in a fresh process, against oneDNN in that same process;
- training, report A's deep MLP (a-deep-mlp, 10 x 1024, batch 32) and MLP (a-mlp, batch 32):
  forward, backward and fused Adam, each candidate from the same weights on the same batches;
  per-step losses over the first steps against eager float32 (relative, target <= 1e-5), then
  rounds of steps interleaved; the step-time ratio to eager is the median of the rounds'
  ratios. Compilation (the first step) is reported apart.

Precision-lowering switches (`torch.set_float32_matmul_precision("medium")`,
`torch.backends.mkldnn.matmul.fp32_precision = "bf16"`) are not candidates: float32 stays
IEEE float32. The verdicts at the end are the ones the measurements support (adoption in
`tuned` needs correct losses and a robust end-to-end gain).

    .venv/bin/python benchmarks/torch_gemm.py           # the full run, 2 training threads
    .venv/bin/python benchmarks/torch_gemm.py --threads 1   # on a loaded machine (see main)
    .venv/bin/python benchmarks/torch_gemm.py --quick   # tiny sizes: checks that it runs,
                                                        # prints the section, writes nothing
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from common import Timer, load, load_note, table, write
from torch import nn

from dlbench.frameworks.torch.model import build_module, init_weights, make_optimizer
from dlbench.spec import PRESETS, make_run

THREADS = 2
LOSS_RTOL = 1e-5
# MKL reads these once, when it loads: each is measured in a process of its own. Intel documents
# the first two (for Intel processors); MKL_DEBUG_CPU_TYPE was removed in MKL 2020.1.
MKL_ENVS = [
    {},
    {"MKL_ENABLE_INSTRUCTIONS": "AVX512"},
    {"MKL_CBWR": "AVX512"},
    {"MKL_DEBUG_CPU_TYPE": "5"},
]
FULL = {
    "n": 2048,
    "gemm_rounds": 7,
    "loss_steps": 20,
    "rounds": 9,
    "chunk": {"a-deep-mlp": 5, "a-mlp": 100},
    "train_n": 4096,
}
QUICK = {
    "n": 256,
    "gemm_rounds": 2,
    "loss_steps": 3,
    "rounds": 2,
    "chunk": {"a-deep-mlp": 2, "a-mlp": 5},
    "train_n": 128,
}

_lp = None  # torch.ops.mkldnn._linear_pointwise, looked up once


def onednn_product(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """x @ w.T (+ b) by oneDNN's inner-product primitive, float32 in and out."""
    global _lp
    if _lp is None:
        _lp = torch.ops.mkldnn._linear_pointwise
    return _lp(x, w, b, "none", [], "")


class _OneDnnLinearFn(torch.autograd.Function):
    """A dense layer whose three products (forward, input and weight gradients) run in oneDNN."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return onednn_product(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        g = g.contiguous()
        dx = onednn_product(g, w.t(), None) if ctx.needs_input_grad[0] else None
        dw = onednn_product(g.t(), x.t(), None)
        db = g.sum(0) if ctx.has_bias else None
        return dx, dw, db


class OneDnnLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _OneDnnLinearFn.apply(x, self.weight, self.bias)


def with_onednn_linears(net: nn.Module) -> nn.Module:
    """The same module, its nn.Linear layers' class swapped: the same parameters and names."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if type(m) is nn.Linear:
            m.__class__ = OneDnnLinear
    return net


# -- the plain product --------------------------------------------------------------------------
def _best_rate(f, flops: float, rounds: int) -> float:
    f()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return flops / best


_AUTOTUNE: list[dict[str, float]] = []  # inductor's own timings of each choice, ms


def _record_autotune(timings, name, *_args) -> None:
    _AUTOTUNE.append({"op": name, **{c.name: float(ms) for c, ms in timings.items()}})


def gemm_in_process(n: int, rounds: int) -> dict:
    """GFLOP/s of torch.mm, oneDNN and inductor's C++ template (frozen weight), interleaved."""
    from torch._inductor.utils import run_and_get_code

    a, w = torch.randn(n, n), torch.randn(n, n)
    ref = a.double() @ w.double().t()
    lin = nn.Linear(n, n, bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    cands = {
        "torch.mm (MKL)": lambda: torch.mm(a, w.t()),
        "oneDNN (mkldnn._linear_pointwise)": lambda: onednn_product(a, w, None),
    }
    torch._dynamo.reset()
    _AUTOTUNE.clear()
    with torch.no_grad(), _inductor_cpp(freezing=True):
        compiled = torch.compile(lin, mode="max-autotune", dynamic=False)
        with Timer() as t:
            _, code = run_and_get_code(compiled, a)
        cpp_used = any("micro_gemm" in c for c in code)
        autotune = list(_AUTOTUNE)
        cands["inductor C++ template (max-autotune, frozen)"] = lambda: compiled(a)
        errors = {
            k: float((f().double() - ref).abs().max() / ref.abs().max()) for k, f in cands.items()
        }
        rates: dict[str, list[float]] = {k: [] for k in cands}
        for _ in range(rounds):  # interleaved: a change of load touches every candidate
            for k, f in cands.items():
                rates[k].append(_best_rate(f, 2 * n**3, 1))
    return {
        "rates": {k: max(v) for k, v in rates.items()},
        "errors": errors,
        "cpp_template_used": cpp_used,
        "cpp_compile_s": t.s,
        "autotune_ms": autotune,
    }


def _inductor_cpp(**more):
    """Inductor's settings for the C++ GEMM template: offered beside ATen's kernels, choices
    timed afresh (no cache from an earlier run) and each timing recorded."""
    from torch._inductor import select_algorithm

    select_algorithm.clear_feedback_savers()
    select_algorithm.add_feedback_saver(_record_autotune)
    return torch._inductor.config.patch(
        max_autotune_gemm_backends="CPP,ATEN", force_disable_caches=True, **more
    )


_ENV_SNIPPET = r"""
import json, sys, time, torch
sys.path.insert(0, sys.argv[3])
from torch_gemm import _best_rate, onednn_product
torch.set_num_threads(int(sys.argv[2]))
n = int(sys.argv[1]); a, w = torch.randn(n, n), torch.randn(n, n)
r = {"mm": [], "onednn": []}
for _ in range(5):
    r["mm"].append(_best_rate(lambda: torch.mm(a, w.t()), 2 * n**3, 1))
    r["onednn"].append(_best_rate(lambda: onednn_product(a, w, None), 2 * n**3, 1))
print("GEMM-ENV " + json.dumps({k: max(v) for k, v in r.items()}))
"""


def gemm_with_env(env: dict, n: int, threads: int) -> dict:
    """torch.mm and oneDNN in a fresh process with MKL's variables set; MKL's own ISA line."""
    full_env = {**os.environ, **env}
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", _ENV_SNIPPET, str(n), str(threads), here],
        env=full_env,
        capture_output=True,
        text=True,
        check=True,
    )
    rates = json.loads(out.stdout.split("GEMM-ENV ", 1)[1])
    verbose = subprocess.run(
        [sys.executable, "-c", "import torch; a = torch.ones(8, 8); torch.mm(a, a)"],
        env={**full_env, "MKL_VERBOSE": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next((x for x in verbose.splitlines() if "processors" in x), "")
    isa = line.split(" for Intel(R) 64 architecture ", 1)[-1].split(", Lnx")[0]
    return {"env": env, "mm": rates["mm"], "onednn": rates["onednn"], "mkl_isa": isa}


# -- training -----------------------------------------------------------------------------------
def _model(name: str, threads: int) -> tuple[nn.Module, object]:
    run = make_run({"model": name, "threads": threads, "tuning": "tuned", "batch_size": 32})
    spec = run.model_spec()
    torch.manual_seed(run.effective_seed)
    net, _ = build_module(spec, PRESETS[name].input_shape)
    init_weights(net, spec, run, PRESETS[name].input_shape)
    return net, run


class Candidate:
    """One way of training: its own copy of the weights and its own fused Adam."""

    def __init__(self, name: str, net: nn.Module, run, step_net=None) -> None:
        self.name, self.net = name, net
        self.step_net = step_net or net
        self.opt = make_optimizer(run, net.parameters(), fused=True)
        self.first_step_s = 0.0
        self.code: list[str] = []

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(self.step_net(x), y)
        loss.backward()
        self.opt.step()
        return loss.detach()


def train_compare(name: str, threads: int, cfg: dict) -> dict:
    from torch._inductor.utils import run_and_get_code

    base, run = _model(name, threads)
    rng = np.random.default_rng(0)
    n = cfg["train_n"]
    x = torch.from_numpy(rng.random((n, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, n))
    bs = run.batch_size
    batches = [(x[i : i + bs], y[i : i + bs]) for i in range(0, n - bs + 1, bs)]

    eager = Candidate("eager (MKL)", copy.deepcopy(base), run)
    onednn = Candidate("oneDNN linear (autograd.Function)", with_onednn_linears(base), run)
    torch._dynamo.reset()
    auto_net = copy.deepcopy(base)
    auto = Candidate(
        "torch.compile max-autotune, CPP+ATEN",
        auto_net,
        run,
        torch.compile(auto_net, mode="max-autotune", dynamic=False),
    )
    cands = [eager, onednn, auto]
    losses: dict[str, list[float]] = {c.name: [] for c in cands}
    for c in cands:  # the loss check, which is also each candidate's warm-up
        for i in range(cfg["loss_steps"]):
            xb, yb = batches[i % len(batches)]
            with Timer() as t:
                if c is auto and i == 0:  # compiles forward and backward
                    _AUTOTUNE.clear()
                    with _inductor_cpp():
                        loss, c.code = run_and_get_code(c.step, xb, yb)
                    autotune = list(_AUTOTUNE)
                else:
                    loss = c.step(xb, yb)
                losses[c.name].append(float(loss))
            if i == 0:
                c.first_step_s = t.s
    ref = np.array(losses[eager.name])
    rel = {k: float(np.max(np.abs(np.array(v) - ref) / np.abs(ref))) for k, v in losses.items()}

    chunk = cfg["chunk"][name]
    per_step: dict[str, list[float]] = {c.name: [] for c in cands}
    pos = cfg["loss_steps"]
    for _ in range(cfg["rounds"]):
        for c in cands:  # each round: the same batches for every candidate, one after the other
            with Timer() as t:
                for j in range(chunk):
                    c.step(*batches[(pos + j) % len(batches)])
            per_step[c.name].append(t.s / chunk)
        pos += chunk
    ratios = {
        c.name: statistics.median(
            a / b for a, b in zip(per_step[c.name], per_step[eager.name], strict=True)
        )
        for c in cands
    }
    return {
        "model": name,
        "threads": threads,
        "batch": bs,
        "losses": losses,
        "loss_rel_diff": rel,
        "step_ms": {k: 1e3 * statistics.median(v) for k, v in per_step.items()},
        "ratio_to_eager": ratios,
        "first_step_s": {c.name: c.first_step_s for c in cands},
        "cpp_template_in_training": any("micro_gemm" in s for s in auto.code),
        "autotune_ms": autotune,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny sizes; print, write nothing")
    ap.add_argument("--render", action="store_true", help="rewrite the section from the JSON")
    # On a loaded 2-core machine 2 OpenMP threads wait for the core another process holds at
    # every parallel region (a-mlp's step 0.35 ms -> 280 ms at nice 19): train with 1 there.
    ap.add_argument("--threads", default=str(THREADS), help="training: comma-separated counts")
    ap.add_argument("--gemm-threads", default="1,2", help="the plain products: counts")
    args = ap.parse_args()
    if args.render:
        return rerender()
    cfg = QUICK if args.quick else FULL
    loads = [load()]
    gemm, envs, trains = {}, [], []
    for threads in [int(t) for t in args.gemm_threads.split(",")]:
        torch.set_num_threads(threads)
        gemm[threads] = gemm_in_process(cfg["n"], cfg["gemm_rounds"])
        print(threads, "threads, GEMM", gemm[threads], flush=True)
        loads.append(load())
        for env in MKL_ENVS:
            envs.append({"threads": threads, **gemm_with_env(env, cfg["n"], threads)})
            print(envs[-1], flush=True)
        loads.append(load())
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for name in ("a-deep-mlp", "a-mlp"):
            trains.append(train_compare(name, threads, cfg))
            print(json.dumps({k: v for k, v in trains[-1].items() if k != "losses"}), flush=True)
            loads.append(load())
    note = load_note(loads)
    section = render(cfg, gemm, envs, trains, note)
    if args.quick:
        print(section)
        return
    data = {"config": cfg, "gemm": gemm, "mkl_envs": envs, "training": trains, "load_note": note}
    write("torch_gemm", data, section)


def rerender() -> None:
    """The section again from benchmarks/results/torch_gemm.json, as measured (no new run)."""
    from common import DOC, RESULTS

    data = json.loads((RESULTS / "torch_gemm.json").read_text())
    gemm = {int(k): v for k, v in data["gemm"].items()}
    section = render(data["config"], gemm, data["mkl_envs"], data["training"], data["load_note"])
    begin, end = "<!-- torch_gemm:begin -->", "<!-- torch_gemm:end -->"
    head, rest = DOC.read_text().split(begin, 1)
    DOC.write_text(f"{head}{begin}\n{section.strip()}\n{end}{rest.split(end, 1)[1]}")


def _autotune_text(entries: list[dict[str, float]]) -> str:
    if not entries:
        return "no product was autotuned (one choice each: ATen's)"
    return "; ".join(
        e["op"] + ": " + ", ".join(f"{k} {v:.3g} ms" for k, v in e.items() if k != "op")
        for e in entries
    )


def verdicts(gemm, envs, trains) -> list[str]:
    """One line per candidate: adopted or not, from the figures, and why."""
    one = "oneDNN linear (autograd.Function)"
    auto = "torch.compile max-autotune, CPP+ATEN"
    out = []
    for name, extra in (
        (
            one,
            "it also calls a private op (`torch.ops.mkldnn._linear_pointwise`, inductor's), "
            "runs outside autocast (bf16-mixed would need its own casts) and on a CPU only",
        ),
        (
            auto,
            "inductor offers its C++ GEMM template only for a constant weight "
            "(`use_cpp_gemm_template(..., require_constant_mat2=True)`: freezing, "
            "inference); a trainable weight is a graph input, so training keeps ATen's MKL "
            "calls and compiles the element-wise work around them",
        ),
    ):
        ratios = {f"{t['model']} {t['threads']}t": t["ratio_to_eager"][name] for t in trains}
        worst = max(t["loss_rel_diff"][name] for t in trains)
        faster = all(r < 0.97 for r in ratios.values())
        ok = worst <= LOSS_RTOL
        verdict = "adopted" if faster and ok else "not adopted"
        parts = ", ".join(f"{k} {v:.2f}x eager's step time" for k, v in ratios.items())
        reason = [] if faster else ["not faster on every model"]
        reason += [] if ok else [f"losses differ by {worst:.1e} > {LOSS_RTOL:g}"]
        out.append(
            f"- **{name}: {verdict}**: {parts}; losses within {worst:.1e} of eager"
            + (f" ({'; '.join(reason)})" if reason else "")
            + f". {extra[0].upper() + extra[1:]}."
        )
    paths = sorted({e["mkl_isa"] for e in envs})
    spread = []
    for threads in sorted({e["threads"] for e in envs}):
        mine = [e for e in envs if e["threads"] == threads]
        unset = [e["mm"] / e["onednn"] for e in mine if not e["env"]]
        r = [e["mm"] / e["onednn"] for e in mine if e["env"]]
        spread.append(
            f"{unset[0]:.2f} unset and {min(r):.2f}-{max(r):.2f} set at {threads} thread(s)"
        )
    out.append(
        "- **MKL's switches: not adopted**: MKL_VERBOSE names the same code path under every "
        f"setting ({', '.join(paths)}), and torch.mm / oneDNN in the same process reads "
        + ", ".join(spread)
        + " (each a fresh process under its own share of the load: the spread at 1 thread is "
        "the load's; no setting moved MKL to the speed of oneDNN). `MKL_ENABLE_INSTRUCTIONS` and `MKL_CBWR` are documented for Intel "
        "processors; `MKL_DEBUG_CPU_TYPE` was removed in MKL 2020.1. Making MKL believe the CPU "
        "is Intel's (an LD_PRELOAD of its vendor check) was not tried: unsupported, not a "
        "candidate."
    )
    out.append(
        "- **Not candidates (they change the arithmetic)**: "
        '`torch.set_float32_matmul_precision("medium")` and '
        '`torch.backends.mkldnn.matmul.fp32_precision = "bf16"` (or `"tf32"`) let float32 '
        "products round to a lower precision; dlbench's float32 stays IEEE float32 (`tuned` "
        'sets the precision to "highest"). `"ieee"` keeps MKL. `torch.utils.mkldnn.to_mkldnn` '
        "modules are inference-only (weights as buffers, no gradients)."
    )
    return out


def render(cfg, gemm, envs, trains, note: str) -> str:
    n = cfg["n"]
    gemm_rows = []
    for threads, g in gemm.items():
        for k, v in g["rates"].items():
            label = k
            if k.startswith("inductor"):  # what the compiled module ran, autotune's pick
                chosen = "the C++ template" if g["cpp_template_used"] else "ATen's MKL"
                label = f"torch.compile max-autotune, frozen (autotune chose {chosen})"
            gemm_rows.append([threads, label, v / 1e9, f"{g['errors'][k]:.1e}"])
        for e in g["autotune_ms"]:  # the template itself, as inductor's autotune timed it
            for choice, ms in e.items():
                if choice.startswith("cpp_"):
                    label = f"inductor C++ template ({choice}, autotune's timing)"
                    gemm_rows.append([threads, label, 2 * n**3 / (ms / 1e3) / 1e9, ""])
    env_rows = [
        [
            e["threads"],
            " ".join(f"{k}={v}" for k, v in e["env"].items()) or "(none)",
            e["mkl_isa"],
            e["mm"] / 1e9,
            e["onednn"] / 1e9,
            e["mm"] / e["onednn"],
        ]
        for e in envs
    ]
    train_rows = [
        [
            t["model"],
            t["threads"],
            k,
            t["step_ms"][k],
            t["ratio_to_eager"][k],
            f"{t['loss_rel_diff'][k]:.1e}",
            t["first_step_s"][k],
        ]
        for t in trains
        for k in t["step_ms"]
    ]
    frozen = "; ".join(
        f"{th} thread(s): template in the generated code {g['cpp_template_used']}, compile "
        f"{g['cpp_compile_s']:.1f} s, inductor's autotune {_autotune_text(g['autotune_ms'])}"
        for th, g in gemm.items()
    )
    trained = "; ".join(
        f"{t['model']} ({t['threads']}t): template in the generated code "
        f"{t['cpp_template_in_training']}, {_autotune_text(t['autotune_ms'])}"
        for t in trains
    )
    return "\n\n".join(
        [
            "## torch float32 products",
            f"Command: `.venv/bin/python benchmarks/torch_gemm.py` (docstring). Float32 {n}^3 "
            f"products in one process, interleaved, best of {cfg['gemm_rounds']} rounds; "
            "*error*: the largest difference from a float64 product, relative to its largest "
            "entry. Inductor's C++ GEMM template, frozen weight (the rate is the kernel autotune "
            f"picked, compilation apart): {frozen}.",
            table(["threads", "product", "GFLOP/s", "error"], gemm_rows),
            "MKL's switches, each in a fresh process; *MKL's code path* is what MKL_VERBOSE "
            "names (on an Intel CPU it names the instruction set); *mm / oneDNN* is against "
            "oneDNN in the same process:",
            table(
                [
                    "threads",
                    "environment",
                    "MKL's code path",
                    "torch.mm GFLOP/s",
                    "oneDNN GFLOP/s",
                    "mm / oneDNN",
                ],
                env_rows,
            ),
            f"Training, batch 32, fused Adam, random data ({cfg['train_n']} images): the first "
            f"{cfg['loss_steps']} steps from the same weights on the same batches give the "
            "loss difference (largest per-step |loss - eager| / eager); then "
            f"{cfg['rounds']} rounds of steps (deep MLP {cfg['chunk']['a-deep-mlp']}, MLP "
            f"{cfg['chunk']['a-mlp']}), interleaved: *step ms* is the median of the rounds, "
            "*/ eager* the median of the rounds' ratios. *first step s* includes compilation "
            f"for torch.compile (apart from the step time). In the compiled training: {trained}.",
            table(
                [
                    "model",
                    "threads",
                    "candidate",
                    "step ms",
                    "/ eager",
                    "loss rel diff",
                    "first step s",
                ],
                train_rows,
            ),
            "\n".join(verdicts(gemm, envs, trains)),
            note,
        ]
    )


if __name__ == "__main__":
    main()
