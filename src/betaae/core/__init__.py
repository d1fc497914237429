"""What every part of betaae shares, loading neither torch nor Lightning: the project's errors, what a value
may be (constraints), the name registries, files written atomically, stopping on request, commands a user
can paste, and what this process knows of its Hydra job.

May import: the standard library, OmegaConf and Hydra. Nothing else of betaae.
"""

from betaae.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "BetaaeError": "errors",
        "ConfigError": "errors",
        "CheckpointError": "errors",
        "TargetError": "errors",
        "Registry": "registry",
        "atomic_write_bytes": "files",
        "write_json": "files",
        "write_csv": "files",
    },
)
