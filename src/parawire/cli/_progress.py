"""The commands' progress display: :mod:`parawire.progress` (re-exported for the commands)."""

from parawire.progress import ProgressFn, progress_on_stderr

__all__ = ["ProgressFn", "progress_on_stderr"]
