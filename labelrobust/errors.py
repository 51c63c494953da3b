"""Exceptions raised for bad input.

Every error message says what was wrong, where it came from, and what is expected, so a
user can fix a config or a file without reading our source.
"""


class LabelRobustError(Exception):
    """Base class of every error labelrobust raises on purpose."""


class ConfigError(LabelRobustError, ValueError):
    """A setting, a name or a combination of settings is invalid."""


class DataError(LabelRobustError, ValueError):
    """A data file or data root is missing, malformed or inconsistent."""


class CheckpointError(LabelRobustError, ValueError):
    """A run directory or checkpoint is missing, incomplete or does not match its config."""


class OutputError(LabelRobustError, OSError):
    """A place labelrobust must write to is not a folder, or not writable."""


class SolverError(LabelRobustError, RuntimeError):
    """The optimisation solver the verifier needs is missing or failed."""
