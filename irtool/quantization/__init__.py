"""Post-training quantization: statistics, range estimators, quantizer parameters, methods."""
from irtool.quantization.accuracy_aware import (AccuracyConfig, AccuracyError, AccuracyReport,
                                                quantize_with_accuracy_control)
from irtool.quantization.config import IgnoredScope, QuantizeConfig
from irtool.quantization.default import Report, quantize

__all__ = ["AccuracyConfig", "AccuracyError", "AccuracyReport", "IgnoredScope", "QuantizeConfig", "Report", "quantize",
           "quantize_with_accuracy_control"]
