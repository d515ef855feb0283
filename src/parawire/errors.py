"""The one exception family of parawire.

Every error a user can cause (bad arguments, bad files, invalid specs) is a ``ParawireError``
whose message says what was wrong and how to fix it; the CLI prints it on one line and exits
non-zero. Anything else escaping is a bug.
"""

from __future__ import annotations


class ParawireError(Exception):
    """Root of every user-facing parawire error."""


class SpecError(ParawireError):
    """An architecture spec is malformed or violates a structural rule."""


class ConfigError(ParawireError, ValueError):
    """A parameter, option or name is unknown or out of range."""


class DataError(ParawireError):
    """A data set, checkpoint or results file is missing, malformed or corrupt."""


class TrainingError(ParawireError):
    """Training cannot go on: the loss became NaN or infinite (the run diverged)."""


class RuntimeTimeoutError(ParawireError, TimeoutError):
    """A distributed wait ran past its timeout (a rank died or never joined)."""


class ResourceError(ParawireError, MemoryError):
    """What a command would allocate does not fit in the memory this process has free."""
