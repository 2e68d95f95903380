"""Precision and TF32 as run settings: ids of default runs unchanged, YAML words, refusals."""

from __future__ import annotations

import pytest

from dlbench.errors import UserError
from dlbench.spec.precision import compute_dtype, cpu_has_bf16, refusal
from dlbench.spec.run import RunSpec, make_run
from dlbench.spec.suite import load_suite, suite_from_dict

# The id of the default run before precision and tf32 could be chosen (main at 4d4123c).
DEFAULT_RUN_ID = "58076b5f1afc"


def test_default_runs_keep_their_ids():
    assert RunSpec().run_id == DEFAULT_RUN_ID
    assert RunSpec(precision="float32", tf32="off").run_id == DEFAULT_RUN_ID
    assert "tf32" not in RunSpec().resolved()
    assert RunSpec(tf32="on").resolved()["tf32"] == "on"
    ids = {RunSpec(precision=p).run_id for p in ("float32", "bf16-mixed", "fp16-mixed")}
    assert len(ids | {RunSpec(tf32="on").run_id}) == 4


def test_unknown_precision_is_one_line_naming_the_choices():
    with pytest.raises(UserError, match="precision.*float32.*bf16-mixed.*fp16-mixed"):
        make_run({"precision": "bf16"})


def test_yaml_on_and_off_read_as_words():
    suite = suite_from_dict(
        {"defaults": {"model": "a-mlp"}, "matrix": {"tf32": [True, False]}}, "t.yaml"
    )
    assert [r.tf32 for r in suite.expand()] == ["on", "off"]


@pytest.mark.parametrize(
    ("precision", "tf32", "device", "dtype"),
    [
        ("float32", "off", "cpu", "float32"),
        ("float32", "on", "cuda:0", "tf32"),
        ("float32", "off", "cuda:0", "float32"),
        ("bf16-mixed", "off", "cpu", "bfloat16"),
        ("bf16-mixed", "on", "cuda:0", "bfloat16"),
        ("fp16-mixed", "off", "cuda", "float16"),
    ],
)
def test_the_dtype_a_run_computes_in(precision, tf32, device, dtype):
    assert compute_dtype(precision, tf32, device) == dtype


def test_a_cpu_refuses_float16_and_tf32_but_not_a_gpu():
    assert "fp16-mixed needs a GPU" in refusal("fp16-mixed", "off", "cpu")
    assert "--tf32 on applies to NVIDIA GPUs only" in refusal("float32", "on", "cpu")
    assert refusal("fp16-mixed", "on", "cuda:0") is None
    assert refusal("float32", "off", "cpu") is None
    # this project's CPU has AVX512-BF16; a CPU without it refuses bf16-mixed
    assert (refusal("bf16-mixed", "off", "cpu") is None) == cpu_has_bf16()


def test_the_precision_suite_has_every_setting_for_three_models():
    runs = load_suite("precision").expand()
    assert {r.model_name for r in runs} == {"a-deep-mlp", "a-torch-cnn", "b-cnn-100k"}
    settings = {(r.precision, r.tf32) for r in runs}
    assert settings == {
        ("float32", "off"),
        ("bf16-mixed", "off"),
        ("fp16-mixed", "off"),
        ("float32", "on"),
    }
    assert all(r.framework == "all" and r.device == "all" for r in runs)
