"""The small error hierarchy of irtool.

Every error a user can cause (a bad file, bad data, a bad option) is an :class:`IrToolError`;
the CLI prints it as one line and exits with :attr:`IrToolError.exit_code`. Anything else that
escapes is a bug in irtool.
"""
from __future__ import annotations


class IrToolError(Exception):
    """Base of all user-facing errors: one line saying what, where, and what to do."""

    exit_code = 2


class IRFormatError(IrToolError):
    """The .xml/.bin pair is not a valid OpenVINO IR irtool can read."""


class LayerError(IRFormatError):
    """A layer disagrees with what its op type and version declare: ports, attributes, element types,
    or the output shapes OpenVINO's rules infer from its inputs. ``layer``/``layer_id``/``line`` say
    where, ``expected``/``found`` what (as text; None where the message says it all)."""

    def __init__(self, message: str, *, layer: str | None = None, layer_id: int | None = None,
                 line: int | None = None, expected: str | None = None, found: str | None = None):
        super().__init__(message)
        self.layer = layer
        self.layer_id = layer_id
        self.line = line
        self.expected = expected
        self.found = found


class UnsupportedError(IrToolError):
    """A valid input that irtool does not handle (an old IR version, an unknown op...)."""


class GraphError(IrToolError):
    """A graph edit that would leave the model inconsistent."""


class InputError(IrToolError):
    """Inputs given to a model or a command do not match what it expects."""


class IrToolWarning(UserWarning):
    """Something worth saying that does not stop the work (the CLI prints it as one line)."""
