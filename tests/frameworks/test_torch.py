"""The PyTorch adapter: the spec's counts, training, tunings, devices, weights."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from dlbench.frameworks import torch as tb  # noqa: E402
from dlbench.frameworks.base import DeviceUnavailable  # noqa: E402
from dlbench.spec import PRESETS, make_run, summarize  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_params_and_macs_match_torch(name):
    """Parameters as torch counts them, and multiply-adds as torch.utils.flop_counter counts
    them (2 FLOPs per multiply-add, forward pass, batch of 2)."""
    preset = PRESETS[name]
    summary = summarize(preset.spec, preset.input_shape)
    net, _ = tb.build_module(preset.spec, preset.input_shape)
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == summary.params
    net.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = net(torch.zeros(2, *preset.input_shape))
    assert counter.get_total_flops() == 2 * 2 * summary.macs
    assert tuple(out.shape[1:]) == summary.output_shape


def _fit(run, data, device="cpu"):
    trainer = tb.Trainer(run, data, device)
    trainer.warm_up()
    records = []
    trainer.fit(lambda r: records.append(r) or True)
    return trainer, records


@pytest.mark.parametrize("device", DEVICES)
def test_cnn_learns_fashion_slice(fashion_slice, device):
    run = make_run({"model": "a-torch-cnn", "epochs": 2, "batch_size": 100, "seed": 1})
    trainer, records = _fit(run, fashion_slice, device)
    assert len(records) == 2 and records[1].train_loss < records[0].train_loss
    assert all(r.epoch_s > 0 for r in records)
    ev = trainer.evaluate(fashion_slice.x_test, fashion_slice.y_test)
    assert ev.acc > 0.65, ev.acc  # 3,000 images, 2 epochs; full data reaches ~88%
    assert ev.predictions.shape == (1000,)


@pytest.mark.parametrize(("model", "rtol"), [("a-mlp", 1e-5), ("b-cnn-20k", 1e-4)])
def test_default_and_tuned_train_the_same_model(digits_data, model, rtol):
    """`default` (DataLoader, per-step .item()) and `tuned` (resident data, fused optimizer,
    channels-last convolutions) see the same batches and compute the same losses: the tuning
    changes speed, not the result (a CNN's convolutions round differently in channels-last)."""
    losses, options = {}, {}
    for tuning in ("default", "tuned"):
        run = make_run({"model": model, "dataset": "digits", "epochs": 2, "tuning": tuning})
        trainer, records = _fit(run, digits_data)
        losses[tuning] = [r.train_loss for r in records]
        options[tuning] = trainer.options
    np.testing.assert_allclose(losses["default"], losses["tuned"], rtol=rtol)
    assert options["tuned"]["channels_last"] == (model != "a-mlp")
    assert not options["default"]["channels_last"]


def test_seed_makes_runs_repeatable_and_different(digits_data):
    def losses(seed):
        run = make_run({"model": "a-mlp", "epochs": 1, "seed": seed})
        return [r.train_loss for r in _fit(run, digits_data)[1]]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


def test_validation_and_heads(digits_data):
    run = make_run({"model": "e-ann", "epochs": 2, "batch_size": 64})  # sigmoid outputs
    trainer, records = _fit(run, digits_data)
    assert records[-1].val_acc is not None and records[-1].val_acc > 0.5
    probs = trainer.predict(digits_data.x_test[:5])
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_cuda_on_a_cpu_machine_says_why():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceUnavailable, match="CPU-only build|finds no GPU"):
        tb.torch_device("cuda")
    assert any(d.device == "cuda" and not d.available and d.reason for d in tb.devices())


def test_save_and_load_round_trip(digits_data, tmp_path):
    run = make_run({"model": "b-cnn-10k", "epochs": 1, "batch_size": 64})
    trainer, _ = _fit(run, digits_data)
    before = trainer.predict(digits_data.x_test[:8])
    trainer.save(tmp_path / "w.pt")
    fresh = tb.Trainer(run.model_copy(update={"seed": 9}), digits_data, "cpu")
    fresh.load(tmp_path / "w.pt")
    np.testing.assert_allclose(fresh.predict(digits_data.x_test[:8]), before, rtol=1e-5)
    maps = fresh.activations(digits_data.x_test[:3], ["conv1", "conv2"])
    assert maps["conv1"].shape == (3, 10, 8, 8) and maps["conv2"].shape == (3, 18, 4, 4)


def test_shared_init_loads_the_numpy_weights(digits_data):
    from dlbench.frameworks.initializers import shared_weights

    run = make_run({"model": "a-mlp", "init": "shared", "seed": 5})
    trainer = tb.Trainer(run, digits_data, "cpu")
    expected = shared_weights(run.model_spec(), digits_data.input_shape, 5)["dense1"]["weight"]
    np.testing.assert_array_equal(trainer.net.dense1.weight.detach().numpy(), expected)
