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


class UnsupportedError(IrToolError):
    """A valid input that irtool does not handle (an old IR version, an unknown op...)."""


class GraphError(IrToolError):
    """A graph edit that would leave the model inconsistent."""


class InputError(IrToolError):
    """Inputs given to a model or a command do not match what it expects."""


class IrToolWarning(UserWarning):
    """Something worth saying that does not stop the work (the CLI prints it as one line)."""
