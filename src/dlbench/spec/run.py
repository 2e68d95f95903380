"""A run spec: model + dataset + framework + device + training settings, and its id.

Every field can be swept by a suite's `matrix:`. The id of a run is a hash of its resolved spec
(the model expanded to its layers), so the same run always has the same id and `--resume` can
tell what is done.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)

from dlbench.errors import UserError
from dlbench.spec.builders import BUILDERS
from dlbench.spec.layers import ModelSpec
from dlbench.spec.presets import get_preset

FRAMEWORKS = ("torch", "torch-compile", "keras-tf", "keras-jax", "keras-torch")
INITS = (
    "framework-default",
    "xavier-normal",
    "xavier-uniform",
    "he-normal",
    "he-uniform",
    "shared",
)


# Fields added after the first release: a resolved spec (and so the run id) leaves them out
# while they hold these values, so that older ids stay the same, and a stored spec without
# them reads them so (`stored_value`). `target_on` means nothing without a target: it goes
# with `target_acc`, and reads None.
LEFT_OUT_AT_DEFAULT: dict[str, Any] = {"target_acc": None, "keep": "last", "tf32": "off"}
LEFT_OUT_WITH = {"target_on": "target_acc"}


def stored_value(spec: dict[str, Any], name: str) -> tuple[bool, Any]:
    """A field of a stored, resolved spec: (True, its value), reading a field left out at
    its default as that default; (False, None) when the spec does not hold it."""
    if name in spec:
        return True, spec[name]
    if name in LEFT_OUT_AT_DEFAULT:
        return True, LEFT_OUT_AT_DEFAULT[name]
    if name in LEFT_OUT_WITH and LEFT_OUT_WITH[name] not in spec:
        return True, None
    return False, None


class BuilderSpec(BaseModel):
    """`model: {builder: cnn, conv_channels: [1, 20, 30], dense_sizes: [9, 20, 10]}` in a suite."""

    model_config = ConfigDict(frozen=True, extra="allow")
    builder: Literal["mlp", "cnn"]

    def build(self) -> ModelSpec:
        kwargs = dict(self.model_extra or {})
        try:
            return BUILDERS[self.builder](**kwargs)
        except TypeError as exc:
            raise UserError(
                f"model builder {self.builder}: {exc}; see `dlbench list models`"
            ) from None


class RunSpec(BaseModel):
    """One training run. Defaults follow the reports' most common setting."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | ModelSpec | BuilderSpec = "a-mlp"  # preset name, a builder, or layers
    dataset: str = "fashion-mnist"  # see `dlbench list datasets`
    framework: str = "torch"  # torch, torch-compile, keras-tf, keras-jax, keras-torch
    device: str = "cpu"  # cpu, cuda, cuda:N; "all" in a suite: every device the framework sees
    epochs: PositiveInt = 3
    batch_size: PositiveInt = 32
    optimizer: Literal["adam", "sgd", "adadelta"] = "adam"
    lr: PositiveFloat = 0.001  # learning rate, the same number in every framework
    momentum: float = Field(0.0, ge=0, lt=1)  # sgd only
    eps: PositiveFloat = 1e-7  # adam/adadelta epsilon: Keras' default, applied everywhere
    loss: Literal["auto", "crossentropy", "binary-crossentropy"] = "auto"  # auto: from the output
    init: str = "framework-default"  # or xavier-normal, he-normal, ..., shared
    seed: int = 0  # weights, dropout and batch order
    threads: PositiveInt | None = None  # CPU threads; None: the framework's own, or swept
    val_fraction: float = Field(0.0, ge=0, lt=1)  # held out of the training set, fixed seed
    limit_train: PositiveInt | None = None  # first N training samples (quick runs)
    limit_test: PositiveInt | None = None  # first N test samples
    normalize: Literal["scale", "l2-rows", "standardize", "none"] = "scale"
    tuning: Literal["default", "tuned"] = "tuned"  # as tutorials do it, or as fast as we know
    # float32, or mixed precision: products in bfloat16/float16, weights and loss in float32
    precision: Literal["float32", "bf16-mixed", "fp16-mixed"] = "float32"
    repeat: int = Field(0, ge=0)  # index among --repeats; seed of repeat i is seed + i
    target_acc: float | None = Field(None, gt=0, le=1)  # time-to-accuracy target (DAWNBench)
    target_on: Literal["val", "test"] = "val"  # which accuracy must reach target_acc
    # Which weights are tested and saved: the last epoch's, or those of the epoch with the best
    # validation accuracy (needs val_fraction > 0; the test set never chooses).
    keep: Literal["last", "best-val"] = "last"
    # TensorFloat-32 for float32 products on NVIDIA GPUs; off: IEEE float32 in every framework
    tf32: Literal["off", "on"] = "off"

    @field_validator("model", mode="before")
    @classmethod
    def _model_kind(cls, v: Any) -> Any:
        # Pick the branch ourselves, so an error names the bad layer, not every union branch.
        if isinstance(v, dict):
            kind = BuilderSpec if "builder" in v else ModelSpec
            try:
                return kind.model_validate(v)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise ValueError(f"{where}: {error_text(err)}") from None
        return v

    @field_validator("framework")
    @classmethod
    def _known_framework(cls, v: str) -> str:
        if v not in FRAMEWORKS and v != "all":
            raise ValueError(f"unknown framework {v!r}; choose from {', '.join(FRAMEWORKS)}")
        return v

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        ok = v in ("cpu", "cuda", "all") or (v.startswith("cuda:") and v[5:].isdigit())
        if not ok:
            raise ValueError(f"unknown device {v!r}; use cpu, cuda, cuda:N or all")
        return v

    @field_validator("tf32", mode="before")
    @classmethod
    def _tf32_word(cls, v: Any) -> Any:
        # YAML reads a bare `on`/`off` as true/false
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @field_validator("init")
    @classmethod
    def _known_init(cls, v: str) -> str:
        if v not in INITS:
            raise ValueError(f"unknown init {v!r}; choose from {', '.join(INITS)}")
        return v

    def model_spec(self) -> ModelSpec:
        if isinstance(self.model, ModelSpec):
            return self.model
        if isinstance(self.model, BuilderSpec):
            return self.model.build()
        return get_preset(self.model).spec

    @property
    def model_name(self) -> str:
        if isinstance(self.model, str):
            return self.model
        if isinstance(self.model, BuilderSpec):
            return (
                self.model_spec().name
                if self.model_spec().name != "custom"
                else (f"{self.model.builder}-custom")
            )
        return self.model.name

    @property
    def effective_seed(self) -> int:
        return self.seed + self.repeat

    def resolved(self) -> dict[str, Any]:
        """The spec with the model expanded to its layers: what the id hashes and the store keeps."""
        data = self.model_dump(mode="json")
        for name, default in LEFT_OUT_AT_DEFAULT.items():
            if data[name] == default:
                del data[name]
        for name, partner in LEFT_OUT_WITH.items():
            if partner not in data:
                del data[name]
        data["model"] = self.model_spec().model_dump(mode="json")
        data["model_name"] = self.model_name
        return data

    @property
    def run_id(self) -> str:
        text = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def label(self) -> str:
        return f"{self.model_name} / {self.dataset} / {self.framework} / {self.device}"


# pydantic prefixes what a validator raises with the exception's kind; users need the reason.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def error_text(err: Any) -> str:
    """A pydantic error's message, without pydantic's "Value error," prefix."""
    msg = str(err["msg"])
    for prefix in _PYDANTIC_PREFIXES:
        msg = msg.removeprefix(prefix)
    return msg


def validation_message(exc: ValidationError, where: str) -> str:
    """One line from a pydantic error: the first problem, where it is, and the fix."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = error_text(err)
    if err["type"] == "extra_forbidden":
        field = err["loc"][-1]
        msg = f"unknown key {field!r}; valid keys are listed by `dlbench run --help`"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}: {loc}: {msg}{more}"


def make_run(fields: dict[str, Any], where: str = "run") -> RunSpec:
    try:
        return RunSpec(**fields)
    except ValidationError as exc:
        raise UserError(validation_message(exc, where)) from None
