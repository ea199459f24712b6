"""Post-training quantization: statistics, range estimators, quantizer parameters, methods."""
from irtool.quantization.config import IgnoredScope, QuantizeConfig
from irtool.quantization.default import Report, quantize

__all__ = ["IgnoredScope", "QuantizeConfig", "Report", "quantize"]
