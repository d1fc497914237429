"""How curves are made and served: the grid, the parameter draws, the Lightning DataModule and its
whole-batch iterables.

Every split is built in vectorized chunks, moved once to the training device, and served as slices of
that tensor: no per-item __getitem__, no collate, no host-to-device copy per step.

Training curves are drawn uniformly from the parameter ranges (that is the task); the curves a model is
scored on (val, and the test set at the end) are importance-sampled from the same distribution, each
with its weight (betaae.families.sampling).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import lightning as L
import torch

from betaae.core.errors import ConfigError, ResourceError
from betaae.core.files import available_memory_host
from betaae.families import Family, get_family, make_grid
from betaae.families.sampling import edge_parameters, sample_params, sample_scoring_params, split_seed

GIB = 2**30
PREVIEW = 1_000  # uniform curves kept for figures and TensorBoard images


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on the device (host: MemAvailable), or None if unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_memory_host()


def _fixed_epoch() -> int:
    return 0


class TensorBatches:
    """Whole batches cut from tensors that already live on the device, reshuffled each epoch.

    Under DDP each rank takes its own disjoint share of one shared permutation: for training an equal
    share (every rank must take the same number of steps; up to world_size - 1 curves an epoch wait for
    the next), for evaluation (`every_curve=True`) shares that differ by at most one curve and together
    hold every curve once. The order depends only on (seed, epoch), so a resumed run sees the same batches.
    `epoch` says which epoch an iteration is for (the trainer's current epoch).
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        shuffle: bool,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        every_curve: bool = False,
        epoch: Callable[[], int] = _fixed_epoch,
    ) -> None:
        self.tensors, self.batch_size, self.shuffle, self.seed = tensors, batch_size, shuffle, seed
        self.rank, self.world_size, self.every_curve, self.epoch = rank, world_size, every_curve, epoch

    @property
    def share(self) -> tuple[int, int]:
        """[start, end) of this rank's share of the (permuted) rows."""
        n = self.tensors[0].shape[0]
        if self.every_curve:
            return self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size
        per_rank = n // self.world_size
        return self.rank * per_rank, (self.rank + 1) * per_rank

    def __len__(self) -> int:
        start, end = self.share
        return math.ceil((end - start) / self.batch_size)

    def _epoch_tensors(self) -> tuple[torch.Tensor, ...]:
        if not self.shuffle and self.world_size == 1:
            return self.tensors
        n = self.tensors[0].shape[0]
        if self.shuffle:
            gen = torch.Generator().manual_seed(split_seed(self.seed, "train", self.epoch()))
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        start, end = self.share
        mine = order[start:end].to(self.tensors[0].device)
        # One gather per epoch; every batch after it is a view.
        return tuple(t[mine] for t in self.tensors)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        tensors = self._epoch_tensors()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)


class OnlineBatches:
    """Fresh (curves, params) for every batch, drawn directly on the device, BLOCK curves at a time: one
    vectorized call for many batches costs a fraction of one per batch, and draws the same rows (each row's
    numbers come from the generator in turn); memory stays flat."""

    BLOCK = 65_536

    def __init__(
        self,
        family: Family,
        grid: torch.Tensor,
        low: torch.Tensor,
        high: torch.Tensor,
        batch_size: int,
        steps: int,
        seed: int,
        rank: int = 0,
        epoch: Callable[[], int] = _fixed_epoch,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.family, self.grid, self.low, self.high = family, grid, low, high
        self.batch_size, self.steps, self.seed, self.rank = batch_size, steps, seed, rank
        self.epoch, self.dtype = epoch, dtype

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        device = self.grid.device
        gen = torch.Generator(device=device).manual_seed(split_seed(self.seed, "train", self.epoch(), self.rank))
        per_block = max(1, self.BLOCK // self.batch_size)
        for first in range(0, self.steps, per_block):
            batches = min(per_block, self.steps - first)
            params = sample_params(self.low, self.high, batches * self.batch_size, gen, device)
            curves = self.family.log_pdf(self.grid, params).to(self.dtype)
            params = params.to(self.dtype)
            for i in range(0, batches * self.batch_size, self.batch_size):
                yield curves[i : i + self.batch_size], params[i : i + self.batch_size]


class Grouped:
    """Hands Lightning several minibatches per training_step, each still getting its own optimizer step.

    Lightning's loop has a fixed cost per training_step (hook dispatch, batch-transfer hooks), as large
    as this model's whole step on a CPU; grouping pays it once per group. The order of minibatches, and
    so the result, is unchanged.
    """

    def __init__(self, batches: TensorBatches | OnlineBatches, group: int) -> None:
        self.batches, self.group = batches, group

    def __len__(self) -> int:
        return math.ceil(len(self.batches) / self.group)

    def __iter__(self) -> Iterator[tuple[tuple[torch.Tensor, torch.Tensor], ...]]:
        minibatches = iter(self.batches)
        while chunk := tuple(itertools.islice(minibatches, self.group)):
            yield chunk


class CurveDataModule(L.LightningDataModule):
    """Serves log-pdf curves of one family on a fixed grid, with each curve's parameters beside it.

    `params` maps each parameter name to its [low, high] range; a missing or null range takes the
    family's default, and so do null grid ends. The train and val splits are drawn from `seed`; the test
    set from `test_seed` alone, so that runs of any seed are scored on the same curves. The test set is
    not kept: it is drawn and scored chunk by chunk at the end of a run (betaae.models.scoring).
    """

    def __init__(
        self,
        family: str = "beta",
        params: dict[str, list[float] | None] | None = None,
        grid_low: float | None = None,
        grid_high: float | None = None,
        num_points: int = 100,
        num_train: int = 10_000,
        num_val: int = 2_000,
        num_test: int = 200_000,
        test_seed: int = 20261201,
        batch_size: int = 128,
        batches_per_step: int = 16,
        eval_batch_size: int = 2_000,
        shuffle: bool = True,
        seed: int = 0,
        online: bool = True,
        steps_per_epoch: int | None = None,
        chunk_size: int = 100_000,
    ) -> None:
        super().__init__()
        fam = get_family(family)
        ranges = fam.default_ranges()
        ranges.update({name: list(r) for name, r in (params or {}).items() if r is not None})
        grid_low = fam.default_grid[0] if grid_low is None else grid_low
        grid_high = fam.default_grid[1] if grid_high is None else grid_high
        self.save_hyperparameters(logger=False)  # the run's settings reach TensorBoard through betaae.runs.hparams
        self.hparams.update(family=fam.name, params=ranges, grid_low=grid_low, grid_high=grid_high)
        self.family = fam
        self.grid = make_grid(grid_low, grid_high, num_points)
        self.low = torch.tensor([float(ranges[n][0]) for n in fam.param_names], dtype=torch.float64)
        self.high = torch.tensor([float(ranges[n][1]) for n in fam.param_names], dtype=torch.float64)
        self.edges = edge_parameters(fam, self.low)
        self.splits: dict[str, tuple[torch.Tensor, ...]] = {}
        self.dtype = torch.float32  # the training precision's, once setup() knows the trainer

    @property
    def spec(self) -> dict:
        """What a model must remember about its data to be used on its own: family, grid and ranges."""
        hp = self.hparams
        return {
            "family": hp.family,
            "params": {k: list(v) for k, v in hp.params.items()},
            "grid_low": hp.grid_low,
            "grid_high": hp.grid_high,
            "num_points": hp.num_points,
        }

    def split_sizes(self) -> dict[str, int]:
        """The splits kept in memory (the test set is drawn chunk by chunk when it is scored)."""
        hp = self.hparams
        sizes = {"train": hp.num_train, "val": hp.num_val, "preview": min(PREVIEW, hp.num_val)}
        if hp.online:
            sizes.pop("train")
        return sizes

    def memory_needed(self) -> int:
        """Bytes the stored splits take (float32 curves, parameters and weights), plus one float64 chunk in flight."""
        hp = self.hparams
        width = hp.num_points + len(self.family.parameters) + 1
        stored = sum(self.split_sizes().values()) * width * 4
        largest = max([*self.split_sizes().values(), hp.num_test])
        in_flight = min(hp.chunk_size, largest) * width * 8 * 3
        return stored + in_flight

    def check_memory(self, device: torch.device) -> None:
        """Refuse, in one line, splits that do not fit the device's memory, before anything is built."""
        needed, free = self.memory_needed(), available_memory(device)
        if free is not None and needed > free:
            biggest = max(self.split_sizes().items(), key=lambda kv: kv[1])[0]
            raise ResourceError(
                f"data.num_{biggest}={self.split_sizes()[biggest]}: the data needs {needed / GIB:.1f} GiB of "
                f"{'GPU ' if device.type == 'cuda' else ''}memory and {free / GIB:.1f} GiB is available; use "
                f"data.online=true (fresh curves every batch, nothing stored) or a smaller data.num_{biggest}"
            )

    def chunks(self, split: str, n: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """A split, chunk by chunk, float64 on the CPU: (curves (m, num_points), params (m, num_params)), and
        for the splits a model is scored on (val, test) each curve's weight (m,) as a third tensor.

        The draws are the same whatever the chunk size, so the test set is the same however it is read."""
        seed = self.hparams.test_seed if split == "test" else self.hparams.seed
        gen = torch.Generator().manual_seed(split_seed(seed, split))
        grid64 = self.grid.double().cpu()
        scoring = split in ("val", "test")
        for start in range(0, n, self.hparams.chunk_size):
            m = min(self.hparams.chunk_size, n - start)
            if scoring:
                params, weights = sample_scoring_params(self.low, self.high, self.edges, m, gen)
                yield self.family.log_pdf(grid64, params), params, weights
            else:
                params = sample_params(self.low, self.high, m, gen)
                yield self.family.log_pdf(grid64, params), params

    def build_split(self, split: str, n: int) -> tuple[torch.Tensor, ...]:
        """A whole split (see chunks), float32, built chunk by chunk: the peak memory is the float32 result
        plus one float64 chunk."""
        parts = [tuple(t.float() for t in chunk) for chunk in self.chunks(split, n)]
        return tuple(torch.cat(columns) for columns in zip(*parts))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if self.trainer is not None:  # 64-true trains in float64, 16-true in float16, ...: the data follows
            self.dtype = self.trainer.precision_plugin.convert_input(torch.zeros(1)).dtype
        self.check_memory(device)
        for split, n in self.split_sizes().items():
            tensors = self.build_split(split, n)
            curves, params = tensors[:2]
            finite = torch.isfinite(curves).all(dim=1)
            if not finite.all():
                row = params[int((~finite).nonzero()[0, 0])].tolist()
                values = ", ".join(f"{k}={v:.4g}" for k, v in zip(self.family.param_names, row))
                raise ConfigError(
                    f"data.params={self.hparams.params}: the {self.family.label} log-pdf is not finite on the grid "
                    f"[{self.hparams.grid_low}, {self.hparams.grid_high}] for {values}; narrow the ranges or the grid"
                )
            self.splits[split] = tuple(t.to(device, self.dtype) for t in tensors)
        self.grid = self.grid.to(device)

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        # Every split already lives on the training device, and online batches are drawn there: the batch
        # needs no transfer, and skipping Lightning's generic tree walk saves its cost on every step.
        return batch

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def train_dataloader(self) -> Grouped:
        """Groups of `batches_per_step` minibatches of `batch_size` curves (the last group may be shorter)."""
        hp = self.hparams
        rank, world = self._rank()
        if hp.online:
            steps = hp.steps_per_epoch or max(1, hp.num_train // (hp.batch_size * world))
            batches = OnlineBatches(
                self.family,
                self.grid,
                self.low,
                self.high,
                hp.batch_size,
                steps,
                hp.seed,
                rank,
                self._epoch,
                self.dtype,
            )
        else:
            batches = TensorBatches(
                self.splits["train"], hp.batch_size, hp.shuffle, hp.seed, rank, world, epoch=self._epoch
            )
        return Grouped(batches, hp.batches_per_step)

    def _eval_batches(self, split: str) -> TensorBatches:
        rank, world = self._rank()
        hp = self.hparams
        return TensorBatches(self.splits[split], hp.eval_batch_size, False, hp.seed, rank, world, every_curve=True)

    def val_dataloader(self) -> TensorBatches:
        """Batches of (curves, params, weights) of the val split."""
        return self._eval_batches("val")

    def predict_dataloader(self) -> TensorBatches:
        return self._eval_batches("preview")
