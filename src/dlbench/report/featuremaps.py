"""Feature maps of a stored model: the outputs of its convolution layers for chosen test samples.

Samples are numbered from 1 in the dataset's test set, as report B counted them: in
Fashion-MNIST, samples 1, 4 and 7 are an ankle boot, a trouser and a coat (the report called
the last a shirt; the first shirt is sample 5). Each layer gives one figure (PNG and SVG): per
sample, its input image, then every channel. `index.json` in the output folder lists the
figures, so that `dlbench report` shows those stored in a run's artifacts folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlbench.errors import UserError

INDEX = "index.json"


@dataclass
class LayerMaps:
    layer: str
    shape: tuple[int, ...]  # (samples, channels, H, W)
    png: Path
    svg: Path


def parse_samples(text: str) -> list[int]:
    try:
        samples = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--samples {text!r}: give sample numbers such as 1,4,7") from None
    if not samples or min(samples) < 1:
        raise UserError(f"--samples {text!r}: samples are numbered from 1 (1,4,7)")
    return samples


def feature_layers(model, wanted: list[str] | None) -> list[str]:
    """The layers to show: `wanted`, checked, or every convolution of the model."""
    from dlbench.spec.layers import layer_names, summarize

    spec = model.run.model_spec()
    names = layer_names(spec)
    infos = summarize(spec, model.input_shape).layers
    maps = [n for n, info in zip(names, infos, strict=True) if len(info.output_shape) == 3]
    convs = [n for n, layer in zip(names, spec.layers, strict=True) if layer.type == "conv2d"]
    if not wanted:
        if not convs:
            raise UserError(
                f"{model.run.model_name} has no convolution layer: feature maps need a CNN"
            )
        return convs
    for name in wanted:
        if name not in maps:
            raise UserError(
                f"layer {name!r} has no feature maps; choose from {', '.join(maps) or 'none'}"
            )
    return wanted


def layer_stages(model) -> dict[str, str]:
    """For each layer, what its feature maps are: after the layer's own activation, or its
    raw output when batch-norm or a separate activation follows (report B's CNNs)."""
    from dlbench.spec.layers import layer_names

    spec = model.run.model_spec()
    out = {}
    for name, layer in zip(layer_names(spec), spec.layers, strict=True):
        act = getattr(layer, "activation", None)
        out[name] = f"after {act}" if act and act != "linear" else "output, before what follows"
    return out


def write_feature_maps(
    model,
    samples: list[int],
    layers: list[str] | None,
    out: Path,
    data_dir: Path | None = None,
) -> tuple[list[LayerMaps], list[str]]:
    """Draw and save one figure per layer; returns them and each sample's label."""
    from dlbench.data import load_dataset
    from dlbench.report.figures import feature_map_figure, save

    layers = feature_layers(model, layers)
    ds = load_dataset(model.run.dataset, data_dir, limit_train=0, limit_test=max(samples))
    if max(samples) > len(ds.x_test):
        raise UserError(
            f"--samples: {model.run.dataset}'s test set has {len(ds.x_test)} images; "
            f"choose samples from 1 to {len(ds.x_test)}"
        )
    idx = np.array(samples) - 1
    inputs = ds.x_test[idx]
    labels = [f"{s}: {ds.class_names[ds.y_test[i]]}" for s, i in zip(samples, idx, strict=True)]
    acts = model.activations(model.prepare(inputs), layers)
    out.mkdir(parents=True, exist_ok=True)
    tag = "-".join(str(s) for s in samples)
    written = []
    stages = layer_stages(model)
    for layer in layers:
        maps = acts[layer]
        fig = feature_map_figure(layer, maps, inputs, labels, stages.get(layer, ""))
        saved = save(fig, out, f"run{model.row_id}-{layer}-samples-{tag}")
        written.append(LayerMaps(layer, tuple(maps.shape), saved.png, saved.svg))
    _update_index(out, model, samples, labels, written)
    return written, labels


def _update_index(
    out: Path, model, samples: list[int], labels: list[str], written: list[LayerMaps]
) -> None:
    index = read_index(out)
    entries = {(e["layer"], tuple(e["samples"])): e for e in index.get("figures", [])}
    for w in written:
        entries[(w.layer, tuple(samples))] = {
            "layer": w.layer,
            "samples": samples,
            "labels": labels,
            "shape": list(w.shape),
            "png": w.png.name,
            "svg": w.svg.name,
        }
    index = {"run": model.row_id, "run_id": model.run.run_id, "figures": list(entries.values())}
    (out / INDEX).write_text(json.dumps(index, indent=2) + "\n")


def read_index(folder: Path) -> dict[str, Any]:
    path = folder / INDEX
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
