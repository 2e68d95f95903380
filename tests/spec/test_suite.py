"""Suites: YAML, matrix expansion in a stable order, ids from the resolved spec."""

import pytest

from dlbench.errors import UserError
from dlbench.spec import builtin_suites, load_suite, make_run, suite_from_dict


def test_matrix_order_and_runs(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\n"
        "defaults: {dataset: digits, epochs: 1}\n"
        "runs:\n  - {model: a-mlp, batch_size: 32}\n  - {model: d-mlp, batch_size: 64}\n"
        "matrix:\n  lr: [0.1, 0.01]\n  device: [cpu]\n"
    )
    runs = load_suite(path).expand()
    assert [(r.model, r.batch_size, r.lr) for r in runs] == [
        ("a-mlp", 32, 0.1),
        ("a-mlp", 32, 0.01),
        ("d-mlp", 64, 0.1),
        ("d-mlp", 64, 0.01),
    ]
    assert [r.run_id for r in runs] == [r.run_id for r in load_suite(path).expand()]
    assert len({r.run_id for r in runs}) == 4


def test_repeats_change_seed_and_id():
    s = suite_from_dict({"defaults": {"model": "a-mlp"}}, "x")
    runs = s.expand(repeats=3)
    assert [r.effective_seed for r in runs] == [0, 1, 2]
    assert len({r.run_id for r in runs}) == 3


def test_id_follows_the_resolved_model():
    a = make_run({"model": "b-cnn-20k"})
    b = make_run(
        {
            "model": {
                "builder": "cnn",
                "conv_channels": [1, 20, 30],
                "dense_sizes": [9, 20, 10],
                "name": "b-cnn-20k",
            }
        }
    )
    assert a.model_spec() == b.model_spec()
    assert a.run_id != b.run_id or a.model_name == b.model_name


@pytest.mark.parametrize(
    "data, message",
    [
        ({"defaults": {"epochs": 0}}, "epochs: Input should be greater than 0"),
        ({"defaults": {"batch_size": -5}}, "batch_size"),
        ({"defaults": {"lr": 0}}, "lr"),
        ({"defaults": {"epoch": 3}}, "unknown key 'epoch'"),
        ({"matrix": {"framework": ["tensorflow"]}}, "unknown framework 'tensorflow'"),
        ({"matrix": {"device": ["gpu"]}}, "unknown device 'gpu'"),
        ({"defaults": {"model": "nope"}}, "unknown model 'nope'"),
        ({"defaults": {"model": {"layers": [{"type": "conv3d"}]}}}, "conv3d"),
        ({"matrix": {"lr": []}}, "non-empty list"),
        ({"suite": 1}, "unknown key 'suite'"),
    ],
)
def test_bad_suites_fail_with_one_line(data, message):
    with pytest.raises(UserError, match=message) as err:
        suite_from_dict(data, "s.yaml").expand()
    assert "\n" not in str(err.value)


def test_builtin_suites_parse():
    suites = builtin_suites()
    assert "default" in suites
    for path in suites.values():
        assert load_suite(path).expand()
