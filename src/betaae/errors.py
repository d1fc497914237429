"""The project's exceptions: each one becomes a one-line message and exit code 2 at the entry points."""


class BetaaeError(Exception):
    """A problem the user can fix; its message is one line that names the option, its value and what is allowed."""


class ConfigError(BetaaeError):
    """An option has a value that is not allowed, or an option is unknown."""


class CheckpointError(BetaaeError):
    """A checkpoint is missing, unreadable, or not one of this project's."""


class TargetError(BetaaeError):
    """Inversion targets that do not fit the checkpoint (wrong length, non-finite values, bad parameters)."""


class NonFiniteLossError(BetaaeError):
    """Training produced a NaN or infinite loss."""


class InterruptedRun(BetaaeError):
    """Training was stopped by Ctrl-C or SIGTERM; the message says how to resume."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
