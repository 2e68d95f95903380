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
# One CPU thread for these small models: as fast on an idle machine, and several times faster
# on a busy one, where idle OpenMP threads spin for cores other processes hold.
ONE = {"threads": 1}


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
    run = make_run({"model": "a-torch-cnn", "epochs": 2, "batch_size": 100, "seed": 1, **ONE})
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
        run = make_run({"model": model, "dataset": "digits", "epochs": 2, "tuning": tuning, **ONE})
        trainer, records = _fit(run, digits_data)
        losses[tuning] = [r.train_loss for r in records]
        options[tuning] = trainer.options
    np.testing.assert_allclose(losses["default"], losses["tuned"], rtol=rtol)
    assert options["tuned"]["channels_last"] == (model != "a-mlp")
    assert not options["default"]["channels_last"]


def test_seed_makes_runs_repeatable_and_different(digits_data):
    def losses(seed):
        run = make_run({"model": "a-mlp", "epochs": 1, "seed": seed, **ONE})
        return [r.train_loss for r in _fit(run, digits_data)[1]]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


def test_validation_and_heads(digits_data):
    run = make_run({"model": "e-ann", "epochs": 2, "batch_size": 64, **ONE})  # sigmoid outputs
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
    run = make_run({"model": "b-cnn-10k", "epochs": 1, "batch_size": 64, **ONE})
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


def test_tuned_sweeps_threads_in_warm_up_and_keeps_the_choice(digits_data):
    """`tuned` with no `threads`: the sweep runs inside warm_up (its time part of compile_s,
    before the first epoch's clock), the chosen count trains every epoch, and the model is
    the one a run forced to that count trains (warm_up restores what the sweep's steps
    changed)."""
    from dlbench.frameworks import threads

    run = make_run({"model": "a-mlp", "dataset": "digits", "epochs": 2, "tuning": "tuned"})
    trainer = tb.Trainer(run, digits_data, "cpu")
    assert trainer.options["threads_chosen_by"] == "sweep" or threads.usable_cores() == 1
    if threads.usable_cores() == 1:
        pytest.skip("one CPU core: nothing to sweep")
    compile_s = trainer.warm_up()
    opts = dict(trainer.options)
    chosen = opts["threads"]
    assert set(opts["thread_sweep"]) == {str(c) for c in threads.candidates(threads.usable_cores())}
    assert all(s > 0 for s in opts["thread_sweep"].values())
    assert 0 < opts["sweep_s"] <= compile_s
    assert torch.get_num_threads() == chosen
    during = []
    trainer.fit(lambda r: during.append((r, torch.get_num_threads())) or True)
    assert [t for _, t in during] == [chosen, chosen]
    assert trainer.options == opts  # fit sweeps nothing
    _, forced = _fit(run.model_copy(update={"threads": chosen}), digits_data)
    np.testing.assert_allclose(
        [r.train_loss for r, _ in during], [r.train_loss for r in forced], rtol=1e-6
    )


def test_forced_threads_and_default_tuning_do_not_sweep(digits_data):
    """`--threads N` is obeyed under `tuned`; `default` leaves torch's own count alone."""
    run = make_run({"model": "a-mlp", "dataset": "digits", "epochs": 1, "tuning": "tuned", **ONE})
    torch.set_num_threads(2)
    trainer, _ = _fit(run, digits_data)
    assert trainer.options["threads"] == 1 == torch.get_num_threads()
    assert trainer.options["threads_chosen_by"] == "forced (--threads 1)"
    assert "thread_sweep" not in trainer.options
    torch.set_num_threads(1)  # what a run's process would have as torch's default
    trainer, _ = _fit(run.model_copy(update={"threads": None, "tuning": "default"}), digits_data)
    assert trainer.options["threads"] == 1 == torch.get_num_threads()
    assert trainer.options["threads_chosen_by"] == "framework default"
    assert "thread_sweep" not in trainer.options
