"""The data module: shapes, finite values, seeding, parameter coverage, and whole-batch serving."""

import pytest
import torch

from betaae.core.errors import ResourceError
from betaae.families import FAMILIES, get_family, make_grid
from betaae.learner.datamodule import CurveDataModule, Grouped, OnlineBatches, TensorBatches, sample_params


def built(**kwargs) -> CurveDataModule:
    """A set-up data module with a stored training split (online=false), unless told otherwise."""
    dm = CurveDataModule(**{"online": False, **kwargs})
    dm.setup()
    return dm


def test_splits_have_the_configured_shapes_and_keep_parameters_beside_curves():
    dm = built(num_train=1000, num_val=200, num_test=300, num_points=50)
    assert set(dm.splits) == {"train", "val", "preview"}  # the test set is drawn chunk by chunk when scored
    dm.splits["test"] = dm.build_split("test", 300)
    for split, n in {"train": 1000, "val": 200, "test": 300}.items():
        curves, params = dm.splits[split][:2]
        assert curves.shape == (n, 50) and curves.dtype == torch.float32
        assert params.shape == (n, 2)
        assert len(dm.splits[split]) == (2 if split == "train" else 3)  # val and test carry their weights
        expected = get_family("beta").log_pdf(dm.grid.double(), params.double()).float()
        torch.testing.assert_close(curves, expected, rtol=1e-4, atol=1e-4)


def test_grid_spans_the_configured_interval():
    grid = CurveDataModule(num_points=100).grid
    assert grid.shape == (100,)
    assert grid[0].item() == pytest.approx(0.01) and grid[-1].item() == pytest.approx(0.99)


def test_every_value_is_finite_even_for_a_parameter_drawn_at_the_bottom_of_the_range():
    dm = built(num_train=20_000, num_val=10, num_test=10)
    assert torch.isfinite(dm.splits["train"][0]).all()
    # The smallest value the sampler can return for a range starting at 0 still gives finite curves.
    family = get_family("beta")
    tiny = torch.tensor([[2.0**-24 * 5, 2.0**-24 * 5], [2.0**-24 * 5, 5.0]], dtype=torch.float64)
    assert torch.isfinite(family.log_pdf(make_grid(0.01, 0.99, 100).double(), tiny)).all()


def test_sampled_parameters_are_never_exactly_the_lower_bound():
    gen = torch.Generator().manual_seed(0)
    params = sample_params(
        torch.zeros(2, dtype=torch.float64), torch.full((2,), 5.0, dtype=torch.float64), 100_000, gen
    )
    assert (params > 0).all() and (params <= 5).all()


def test_parameters_cover_their_whole_range():
    params = built(num_train=10_000, num_val=10, num_test=10).splits["train"][1]
    assert params.min() < 0.01 and params.max() > 4.99
    counts = torch.histc(params[:, 0], bins=10, min=0, max=5)
    assert counts.min() > 850  # uniform: about 1,000 per bin


def test_same_seed_gives_the_same_data_and_another_seed_different_data():
    a, b, c = built(seed=3, num_train=100), built(seed=3, num_train=100), built(seed=4, num_train=100)
    assert torch.equal(a.splits["train"][0], b.splits["train"][0])
    assert not torch.equal(a.splits["train"][0], c.splits["train"][0])


def test_val_and_test_do_not_depend_on_the_training_set_size():
    small, large = built(num_train=100), built(num_train=5000)
    assert torch.equal(small.splits["val"][0], large.splits["val"][0])
    assert not torch.equal(small.splits["val"][0], small.build_split("test", 2000)[0])


def test_the_test_set_is_the_same_for_every_seed_and_chunk_size_and_changes_only_with_test_seed():
    a = CurveDataModule(seed=0).build_split("test", 3000)
    b = CurveDataModule(seed=7, chunk_size=700).build_split("test", 3000)
    c = CurveDataModule(seed=0, test_seed=1).build_split("test", 3000)
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and not torch.equal(a[1], c[1])
    assert not torch.equal(
        CurveDataModule(seed=0).build_split("val", 3000)[1], CurveDataModule(seed=7).build_split("val", 3000)[1]
    )


def test_batches_are_views_cut_from_one_tensor_and_cover_the_epoch_once():
    curves = torch.arange(1000.0).reshape(100, 10)
    ids = torch.arange(100.0).unsqueeze(1)
    batches = TensorBatches((curves, ids), batch_size=32, shuffle=True, seed=0)
    assert len(batches) == 4
    seen = []
    for batch_curves, batch_ids in batches:
        assert batch_curves._base is not None  # a view, not a per-item collate
        seen.extend(batch_ids.squeeze(1).tolist())
    assert sorted(seen) == list(range(100))


def test_grouping_hands_over_the_same_minibatches_in_the_same_order():
    data = (torch.arange(100.0).unsqueeze(1), torch.arange(100.0).unsqueeze(1))
    plain = TensorBatches(data, 8, True, seed=2, epoch=lambda: 3)
    grouped = Grouped(TensorBatches(data, 8, True, seed=2, epoch=lambda: 3), group=5)
    assert len(grouped) == 3  # 13 minibatches in groups of 5, 5 and 3
    flat = [minibatch for group in grouped for minibatch in group]
    assert [len(group) for group in grouped] == [5, 5, 3]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(flat, plain, strict=True))


def test_shuffled_order_depends_only_on_seed_and_epoch():
    data = (torch.arange(50.0).unsqueeze(1),)
    epoch = {"now": 0}
    first = TensorBatches(data, 50, True, seed=1, epoch=lambda: epoch["now"])
    again = TensorBatches(data, 50, True, seed=1, epoch=lambda: 1)
    order0 = next(iter(first))[0]
    epoch["now"] = 1
    order1 = next(iter(first))[0]
    assert not torch.equal(order0, order1)
    assert torch.equal(order1, next(iter(again))[0])


def test_unshuffled_batches_keep_the_fixed_order():
    data = (torch.arange(10.0).unsqueeze(1),)
    order = torch.cat([b[0] for b in TensorBatches(data, 1, False, seed=0)]).squeeze(1)
    assert order.tolist() == list(range(10))


def test_ranks_get_equal_disjoint_shards():
    data = (torch.arange(101.0).unsqueeze(1),)
    shards = [torch.cat([b[0] for b in TensorBatches(data, 8, True, 0, rank, 2)]).squeeze(1) for rank in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 50
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_online_batches_draw_fresh_curves_every_step():
    family = get_family("beta")
    online = OnlineBatches(
        family,
        make_grid(0.01, 0.99, 20),
        torch.zeros(2, dtype=torch.float64),
        torch.full((2,), 5.0, dtype=torch.float64),
        batch_size=16,
        steps=3,
        seed=0,
    )
    batches = list(online)
    assert len(batches) == 3 and batches[0][0].shape == (16, 20)
    assert not torch.equal(batches[0][1], batches[1][1])
    assert all(torch.isfinite(b[0]).all() for b in batches)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_gives_finite_curves_on_its_default_grid(name):
    family = get_family(name)
    dm = built(family=name, num_train=2000, num_val=10, num_test=10)
    assert type(dm.family) is type(family)
    curves, params = dm.splits["train"]
    assert torch.isfinite(curves).all() and params.shape == (2000, len(family.parameters))
    assert list(dm.spec["params"]) == list(family.param_names)


def test_missing_or_null_ranges_and_grid_ends_take_the_family_defaults():
    dm = CurveDataModule(family="student_t", params={"df": [2.0, 4.0], "loc": None})
    assert dm.spec["params"] == {"df": [2.0, 4.0], "loc": [-1.0, 1.0], "scale": [0.5, 2.0]}
    assert (dm.spec["grid_low"], dm.spec["grid_high"]) == (-6.0, 6.0)
    params = dm.build_split("val", 500)[1]
    assert (params[:, 0] > 2).all() and (params[:, 0] <= 4).all()


def test_parameters_are_drawn_the_same_whatever_the_chunk_size():
    whole = CurveDataModule(num_train=5000, chunk_size=1_000_000).build_split("train", 5000)
    chunked = CurveDataModule(num_train=5000, chunk_size=700).build_split("train", 5000)
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])


def test_splits_that_do_not_fit_in_memory_are_refused_before_anything_is_built():
    dm = CurveDataModule(num_train=1_000_000_000, online=False)
    assert dm.memory_needed() >= 1_000_000_000 * 102 * 4  # 1e9 curves of 100 + 2 float32 values: 380 GiB
    with pytest.raises(ResourceError, match=r"data.num_train=1000000000: the data needs \d+\.\d GiB of memory and"):
        dm.setup()
    assert dm.splits == {}
    online = CurveDataModule(num_train=1_000_000_000, online=True)
    assert online.memory_needed() < 2**30  # online: only val and test are stored


def test_the_relative_figure_is_one_for_a_model_that_returns_the_family_mean_curve_and_zero_for_a_perfect_one():
    """sse_relative divides the mean SSE by the family's spread (variance across curves, summed over the
    grid): a model that always answers the (weighted) mean curve leaves all of it, one that copies leaves none."""
    from betaae.models.scoring import score

    for family in ("beta", "normal"):
        dm = CurveDataModule(family=family, num_test=4000, chunk_size=1500)
        curves, _, weights = dm.build_split("test", 4000)
        mean_curve = (weights.double() @ curves.double()) / weights.double().sum()

        class Mean(torch.nn.Module):
            def __init__(self, curve: torch.Tensor | None) -> None:
                super().__init__()
                self.curve, self.w = curve, torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

            def reconstruct(self, x):
                return x if self.curve is None else self.curve.to(x.dtype).expand_as(x)

        figures = score(Mean(mean_curve).double(), dm, "test").figures()
        assert figures["test/sse_relative"] == pytest.approx(1.0, rel=1e-6), family
        assert score(Mean(None).double(), dm, "test").figures()["test/sse_relative"] == 0.0
