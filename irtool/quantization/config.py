"""The options of a quantization run, as one frozen dataclass (no string-keyed option dicts)."""
from __future__ import annotations

from dataclasses import dataclass, field

from irtool.errors import InputError

PRESETS = ("performance", "mixed")
MODEL_TYPES = ("auto", "cnn", "transformer")
OVERFLOW_FIXES = ("first_layer", "all", "none")


@dataclass(frozen=True)
class IgnoredScope:
    """Layers to leave in FP32: exact names, regular expressions over names, op types.
    With ``validate``, a rule that matches nothing is an error (a typo must not pass silently)."""

    names: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    validate: bool = True


@dataclass(frozen=True)
class QuantizeConfig:
    """Options of :func:`irtool.quantize`; defaults are NNCF's."""

    preset: str | None = None  # performance (symmetric) | mixed (asymmetric activations); None: by model type
    range: str = "mean_minmax"  # minmax | mean_minmax | percentile[:P] | kl | mse
    model_type: str = "auto"  # auto | cnn | transformer
    bias_correction: bool = True  # fast bias correction
    overflow_fix: str = "first_layer"  # first_layer | all | none: 7-bit weights against int16 saturation
    compress_weights: bool = True  # Const(i8) -> Convert -> Multiply instead of Const(f32) -> FakeQuantize
    ignored_scope: IgnoredScope = field(default_factory=IgnoredScope)
    subset_size: int | None = 300

    def __post_init__(self):
        for name, value, allowed in (("preset", self.preset or PRESETS[0], PRESETS), ("model_type", self.model_type, MODEL_TYPES),
                                     ("overflow_fix", self.overflow_fix, OVERFLOW_FIXES)):
            if value not in allowed:
                raise InputError(f"{name} '{value}' is not one of {', '.join(allowed)}")
        from irtool.quantization.ranges import parse_estimator

        parse_estimator(self.range)
        if self.subset_size is not None and self.subset_size <= 0:
            raise InputError(f"the calibration subset must hold at least one sample, got {self.subset_size}")
