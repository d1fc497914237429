"""The Lightning side of training: the DataModule, the LightningModule that trains any CurveModel, its
callbacks, loggers and Trainer plugins, the CPU thread governor, the DDP ranks of a sweep's job (`ddp_jobs`), and
Lightning kept quiet.

May import: `betaae.core`, `betaae.families`, `betaae.models`, `betaae.config`, `betaae.plots`.
"""

from betaae.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__, {"CurveDataModule": "datamodule", "Learner": "module", "Governor": "threads"}
)
