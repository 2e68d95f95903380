"""Mixed precision in every framework: bf16-mixed really multiplies in bfloat16 (the dtypes of
the products the framework dispatched and of the hidden activations, not the flag), keeps the
output layer and the loss in float32, trains, and float32 runs are what they were.

torch is checked in this process with a TorchDispatchMode that records every matrix product
and convolution of one training step. Keras fixes its backend at import, so each backend is
checked in a process of its own (the runner's environment), float32 then bf16-mixed: the hidden
layers' outputs, the logits and the loss of a bf16-mixed model, and the products the backend's traced train step
holds (JAX: the jaxpr's dot_general and conv operands; TensorFlow: the graph's MatMul and
Conv2D ops; torch: the dispatched aten ops).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from dlbench.errors import UserError
from dlbench.frameworks import missing_packages
from dlbench.spec import make_run
from tests.conftest import needs_torch, script_json

# Two convolutions and two dense layers: products of both kinds in the hidden layers.
CNN = {"builder": "cnn", "conv_channels": [1, 4, 8], "dense_sizes": [16, 10], "name": "cnn-4-8"}
KERAS = ("keras-tf", "keras-jax", "keras-torch")
MARKER = "PRECISION-PROBE "


def _run(framework: str, precision: str, **fields):
    return make_run(
        {
            "model": CNN,
            "dataset": "digits",
            "framework": framework,
            "precision": precision,
            "epochs": 1,
            "batch_size": 32,
            "threads": 1,
            **fields,
        }
    )


# -- torch ----------------------------------------------------------------------------------
def _dispatched(trainer, steps: int = 1) -> list[tuple[str, tuple[str, ...]]]:
    """(op, dtypes of its tensor inputs) of every product and convolution of `steps` steps."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    products = ("mm", "addmm", "bmm", "convolution", "convolution_backward", "mkldnn")
    seen: list[tuple[str, tuple[str, ...]]] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.__name__.split(".")[0]
            if name.startswith(products) or name in ("_log_softmax", "nll_loss_forward"):
                dtypes = tuple(
                    str(a.dtype).removeprefix("torch.") for a in args if isinstance(a, torch.Tensor)
                )
                seen.append((name, dtypes))
            return func(*args, **(kwargs or {}))

    with Record():
        trainer.step_losses(steps)
    return seen


@needs_torch
@pytest.mark.parametrize("framework", ["torch"])
def test_torch_bf16_multiplies_in_bfloat16_with_float32_output_and_loss(digits_data, framework):
    from dlbench.frameworks import torch as tb

    trainer = tb.Trainer(_run(framework, "bf16-mixed"), digits_data, "cpu")
    seen = _dispatched(trainer)
    forward = [d for op, d in seen if op in ("convolution", "addmm", "mm")]
    # conv1, conv2, dense1 forward in bfloat16; the output layer's addmm in float32
    assert sum(1 for d in forward if "bfloat16" in d and "float32" not in d) >= 3, seen
    assert [op for op, d in seen if op == "convolution" and d[0] == "bfloat16"], seen
    assert any(op == "addmm" and set(d) == {"float32"} for op, d in seen), seen
    # the loss: log-softmax and NLL of float32 logits
    assert [d for op, d in seen if op in ("_log_softmax", "nll_loss_forward")], seen
    assert all(set(d) == {"float32"} for op, d in seen if op in ("_log_softmax",)), seen
    # the hidden activations are bfloat16, the logits float32; weights stay float32
    acts = trainer.activations(digits_data.x_test[:4], ["conv1", "dense1", "dense2"])
    assert acts["dense2"].dtype.name == "float32"
    import torch

    x = trainer._to_device(digits_data.x_test[:4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = trainer.forward_net.net[: trainer.forward_net.start](x)
    assert hidden.dtype == torch.bfloat16
    assert trainer.forward_net(x).dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in trainer.net.parameters())
    opts = trainer.options
    assert opts["precision"] == "bf16-mixed" and opts["autocast_dtype"] == "bfloat16"
    assert opts["output_layer_dtype"] == "float32" and opts["grad_scaler"] is False
    assert opts["tf32_matmul"] is False and opts["tf32_conv"] is False


@needs_torch
def test_torch_float32_is_all_float32_and_tf32_is_off(digits_data):
    from dlbench.frameworks import torch as tb

    trainer = tb.Trainer(_run("torch", "float32"), digits_data, "cpu")
    seen = _dispatched(trainer)
    assert seen and all(set(d) <= {"float32", "int64"} for _, d in seen), seen
    assert trainer.forward_net is trainer.net
    assert trainer.options["float32_matmul_precision"] == "highest"
    assert "autocast_dtype" not in trainer.options


@needs_torch
@pytest.mark.slow
def test_torch_bf16_trains_to_the_accuracy_of_float32(digits_data):
    from dlbench.frameworks import torch as tb

    acc = {}
    for precision in ("float32", "bf16-mixed"):
        trainer = tb.Trainer(_run("torch", precision, epochs=10), digits_data, "cpu")
        trainer.fit(lambda r: True)
        acc[precision] = trainer.evaluate(digits_data.x_test, digits_data.y_test).acc
    assert acc["float32"] > 0.8 and abs(acc["bf16-mixed"] - acc["float32"]) < 0.05, acc


@needs_torch
def test_torch_refuses_float16_on_a_cpu(digits_data):
    from dlbench.frameworks import torch as tb

    with pytest.raises(UserError, match="fp16-mixed needs a GPU"):
        tb.Trainer(_run("torch", "fp16-mixed"), digits_data, "cpu")


# -- Keras, one process per backend -----------------------------------------------------------
PROBE = r"""
import json, sys
import numpy as np
import keras

from dlbench.data import load_dataset, normalize
from dlbench.frameworks import keras as kb
from dlbench.frameworks.base import PreparedData
from dlbench.spec import make_run

ds = load_dataset("digits", limit_train=256, limit_test=64)
x, xt = normalize(ds.x_train, "scale"), normalize(ds.x_test, "scale")
data = PreparedData(x, ds.y_train, x[:0], ds.y_train[:0], xt, ds.y_test, 10, ds.class_names)


def probe(run):
    trainer = kb.Trainer(run, data, "cpu")
    model = trainer.model
    out = {"options": {k: v for k, v in trainer.options.items() if isinstance(v, (str, bool, int))}}
    out["policies"] = {layer.name: layer.dtype_policy.name for layer in model.layers}
    out["variables"] = sorted({str(v.dtype) for v in model.trainable_variables})
    # every layer's output on a batch: the activations' dtypes
    taps = keras.Model(model.inputs, [layer.output for layer in model.layers])
    outs = taps(xt[:8])
    out["activations"] = {l.name: keras.backend.standardize_dtype(o.dtype) for l, o in zip(model.layers, outs)}
    logits = model(xt[:8])
    loss = model.loss(ds.y_test[:8].astype("int64"), logits)
    out["loss"] = keras.backend.standardize_dtype(loss.dtype)

    # the products the backend was handed, in a traced forward and backward
    products = []
    if kb.BACKEND == "jax":
        import jax

        def forward(tv, ntv, xb):
            y, _ = model.stateless_call(tv, ntv, xb, training=True)
            return y.astype("float32").sum()

        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        jaxpr = jax.make_jaxpr(jax.grad(forward))(tv, ntv, xt[:8])
        def walk(jx):
            for eqn in jx.eqns:
                if eqn.primitive.name in ("dot_general", "conv_general_dilated"):
                    products.append([eqn.primitive.name, [str(v.aval.dtype) for v in eqn.invars]])
                for sub in eqn.params.values():
                    inner = getattr(sub, "jaxpr", None)
                    if inner is not None:
                        walk(getattr(inner, "jaxpr", inner))
        walk(jaxpr.jaxpr)
    elif kb.BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(xb):
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(tf.cast(model(xb, training=True), "float32"))
            return tape.gradient(y, model.trainable_variables)

        graph = step.get_concrete_function(tf.TensorSpec((8, 8, 8, 1), tf.float32)).graph
        def walk(g):
            for op in g.get_operations():
                if op.type in ("MatMul", "BatchMatMulV2", "Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "_FusedMatMul"):
                    products.append([op.type, [i.dtype.name for i in op.inputs]])
            for f in getattr(g, "_functions", {}).values():
                walk(f.graph) if hasattr(f, "graph") else None
        walk(graph)
    else:
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode

        class Record(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = func.__name__.split(".")[0]
                if name.startswith(("mm", "addmm", "convolution", "matmul", "linear")):
                    products.append([name, [str(a.dtype).removeprefix("torch.") for a in args if isinstance(a, torch.Tensor)]])
                return func(*args, **(kwargs or {}))

        with Record():
            y = model(torch.from_numpy(xt[:8]), training=True)
            y.float().sum().backward()
    out["products"] = products
    losses = trainer.step_losses(4)
    out["losses"] = losses
    return out


# float32 first, then bf16-mixed: each Trainer sets the global dtype policy before it builds
print("PRECISION-PROBE " + json.dumps({s["precision"]: probe(make_run(s)) for s in json.loads(sys.argv[1])}))
"""


def _probe(framework: str) -> dict[str, dict]:
    """float32 and bf16-mixed, one after the other in one process of the backend."""
    specs = [_run(framework, p).model_dump(mode="json") for p in ("float32", "bf16-mixed")]
    return script_json(PROBE, json.dumps(specs), framework=framework, threads=1, marker=MARKER)


@pytest.fixture(scope="module")
def keras_probes() -> dict[str, dict]:
    installed = [fw for fw in KERAS if not missing_packages(fw)]
    if not installed:
        pytest.skip("keras with a backend is not installed: pip install 'dlbench[keras]'")
    with ThreadPoolExecutor(2) as pool:  # 2 cores
        got = dict(zip(installed, pool.map(_probe, installed), strict=True))
    return {(fw, p): out for fw, by in got.items() for p, out in by.items()}


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("framework", KERAS)
def test_keras_bf16_multiplies_in_bfloat16_with_float32_output_and_loss(keras_probes, framework):
    if (framework, "bf16-mixed") not in keras_probes:
        pytest.skip(f"{framework} is not installed")
    got = keras_probes[(framework, "bf16-mixed")]
    names = list(got["policies"])
    output = names[-1]  # the output dense layer (its activation is the loss's)
    assert got["policies"][output] == "float32", got["policies"]
    assert {got["policies"][n] for n in names[:-1]} == {"mixed_bfloat16"}, got["policies"]
    assert got["activations"]["conv1"] == "bfloat16" and got["activations"]["dense1"] == "bfloat16"
    assert got["activations"][output] == "float32" and got["loss"] == "float32"
    assert got["variables"] == ["float32"]  # the weights stay float32
    low = [p for p in got["products"] if "bfloat16" in p[1]]
    assert low, got["products"]  # the backend was handed bfloat16 products
    assert any(p[1] and set(p[1]) == {"float32"} for p in got["products"]), got["products"]
    opts = got["options"]
    assert opts["precision"] == "bf16-mixed" and opts["dtype_policy"] == "mixed_bfloat16"
    assert opts["output_dtype_policy"] == "float32" and opts["tf32"] is False
    assert len(got["losses"]) == 4 and all(v == v for v in got["losses"])


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("framework", KERAS)
def test_keras_float32_is_all_float32(keras_probes, framework):
    if (framework, "float32") not in keras_probes:
        pytest.skip(f"{framework} is not installed")
    got = keras_probes[(framework, "float32")]
    assert set(got["policies"].values()) == {"float32"}
    assert set(got["activations"].values()) == {"float32"}
    assert got["products"] and all(set(p[1]) <= {"float32", "int32"} for p in got["products"])
    assert got["options"]["dtype_policy"] == "float32" and got["options"]["tf32"] is False
