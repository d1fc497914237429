"""A training run from start to finish: its directory (created exclusively, locked, never overwritten),
resuming it, its HPARAMS record for TensorBoard, the run itself and the lines it prints.

May import: every subpackage below the command line (`betaae.sweep` too, which sits beside it).
"""

from betaae.core.lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {"train": "training", "lock_run": "directories"})
