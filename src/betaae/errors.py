"""The project's exceptions: each one becomes a one-line message and an exit code at the entry points."""


class BetaaeError(Exception):
    """A problem the user can fix; its message is one line that names the option, its value and what is allowed."""

    exit_code = 2


class ConfigError(BetaaeError):
    """An option has a value that is not allowed, or an option is unknown."""


class CheckpointError(BetaaeError):
    """A checkpoint is missing, unreadable, or not one of this project's."""


class ResumeError(BetaaeError):
    """A run directory cannot be resumed as asked (nothing has been written when this is raised)."""


class TargetError(BetaaeError):
    """Inversion targets that do not fit the checkpoint (wrong length, non-finite values, bad parameters)."""


class ResourceError(BetaaeError):
    """Not enough memory or disk, or a path that cannot be written."""


class NonFiniteLossError(BetaaeError):
    """Training produced a NaN or infinite loss."""


class InterruptedRun(BetaaeError):
    """Training was stopped by Ctrl-C or SIGTERM; the message says how to resume."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SweepFailed(BetaaeError):
    """Some jobs of a multirun failed; the others ran, and the summary says which."""

    exit_code = 1
