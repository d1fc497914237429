"""What a run shows on the console: its own lines, and none of Lightning's chatter.

Lightning reports through named loggers (hardware it does not use, tips, "Trainer.fit stopped", restore
messages: all at INFO) and through Python warnings of its own category for advice that may not apply.
Both are quieted by logger level and warning category, never by message text, for the length of a run.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

QUIET_LOGGERS = ("lightning.pytorch", "lightning.fabric")


@contextlib.contextmanager
def quiet_lightning(resuming: bool = False) -> Iterator[None]:
    """Lightning's INFO lines and its PossibleUserWarnings are kept off the console; everything is put
    back when the block ends, whether it succeeds or not."""
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # Lightning's advice for loaders that collate on the host (worker processes, log intervals):
            # the batches here are slices of tensors already on the device, so it does not apply.
            warnings.filterwarnings("ignore", category=PossibleUserWarning)
            # torch >= 2.10 deprecates a check that Lightning 2.6's own pytree helper makes: not ours to fix,
            # and harmless.
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"lightning\.pytorch\.utilities\._pytree")
            if resuming:
                # A resumed run writes into its own checkpoints/ by design, and a moved one's old paths are
                # re-rooted: ModelCheckpoint's warnings about a non-empty or changed directory do not apply.
                warnings.filterwarnings("ignore", category=UserWarning, module=r"lightning\.pytorch\.callbacks")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
