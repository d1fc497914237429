"""The project's exceptions: each one becomes a one-line message and an exit code at the entry points."""

from collections.abc import Iterator


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


class DistributedError(BetaaeError):
    """A process of a distributed (DDP) run was lost, so the others cannot go on."""


class InterruptedRun(BetaaeError):
    """A run or sweep was stopped by Ctrl-C or SIGTERM; the message says how to continue."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Abort(BaseException):
    """Carries a BetaaeError through code that catches every Exception and would go on (Hydra's callback
    runner, its job runner, a sweep's launcher), up to the entry point that prints it."""

    def __init__(self, error: BetaaeError) -> None:
        super().__init__(str(error))
        self.error = error


def chain(error: BaseException | None) -> Iterator[BaseException]:
    """An exception and its causes (or the exceptions it was raised while handling), each once."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        yield error
        seen.add(id(error))
        error = error.__cause__ or error.__context__


def ours_in(error: BaseException | None) -> BetaaeError | None:
    """The project's own error in an exception's chain of causes (OmegaConf wraps one raised in a resolver)."""
    return next((link for link in chain(error) if isinstance(link, BetaaeError)), None)
