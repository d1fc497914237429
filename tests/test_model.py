"""The autoencoder: shapes, the loss against a hand computation, learning, and self-contained checkpoints."""

import lightning as L
import pytest
import torch

from betaae.checkpoints import load_model
from betaae.data import CurveDataModule
from betaae.model import AutoEncoder, sse, sse_per_curve


def quiet_trainer(**kwargs) -> L.Trainer:
    """A CPU trainer that writes nothing: no logger, checkpoints, progress bar or summary."""
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


@pytest.mark.parametrize(("latent_dims", "hidden"), [(1, [128]), (2, [64, 32]), (3, []), (2, 16)])
def test_encoder_and_decoder_shapes(latent_dims, hidden):
    model = AutoEncoder(
        latent_dims=latent_dims,
        hidden=hidden,
        data={"family": "beta", "grid_low": 0.01, "grid_high": 0.99, "num_points": 30},
    )
    curves = torch.randn(7, 30)
    assert model.encoder(curves).shape == (7, latent_dims)
    assert model(curves).shape == (7, 30)


def test_default_model_matches_the_notebook_architecture():
    model = AutoEncoder()
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(100, 128), (128, 2), (2, 128), (128, 100)]
    assert sum(p.numel() for p in model.parameters()) == 26_470


def test_loss_is_the_summed_squared_error_computed_by_hand():
    model = AutoEncoder(data={"family": "beta", "grid_low": 0.01, "grid_high": 0.99, "num_points": 3})
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.decoder[-1].bias.copy_(torch.tensor([1.0, 2.0, 3.0]))  # every reconstruction is [1, 2, 3]
    curves = torch.tensor([[1.0, 1.0, 1.0], [0.0, 2.0, 5.0]])
    # (0 + 1 + 4) + (1 + 0 + 4) = 10
    assert model._common_step((curves, torch.zeros(2, 2)), "train").item() == pytest.approx(10.0)
    assert sse(model(curves), curves).tolist() == pytest.approx([5.0, 5.0])
    assert sse_per_curve(model, curves).mean().item() == pytest.approx(5.0)


def test_a_tiny_model_overfits_one_small_batch():
    dm = CurveDataModule(num_train=32, num_val=32, num_test=32, batch_size=32, shuffle=False)
    torch.manual_seed(0)
    model = AutoEncoder(latent_dims=2, hidden=[128], lr=3e-3, gamma=1.0, data=dm.spec)
    trainer = quiet_trainer(max_epochs=1500, limit_val_batches=0)
    dm.setup()
    before = sse_per_curve(model, dm.splits["train"][0]).mean().item()
    trainer.fit(model, datamodule=dm)
    after = sse_per_curve(model, dm.splits["train"][0]).mean().item()
    assert after < before / 1000 and after < 0.1


def test_checkpoint_holds_plain_hyperparameters_and_rebuilds_the_model_alone(tmp_path):
    dm = CurveDataModule(family="gamma", num_points=40, num_train=64, num_val=32, num_test=32, batch_size=32)
    model = AutoEncoder(latent_dims=3, hidden=[32, 16], data=dm.spec)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=dm)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    raw = torch.load(path, weights_only=True)  # would raise on a stored module or partial
    assert raw["hyper_parameters"]["data"]["family"] == "gamma"
    loaded = load_model(path)
    assert loaded.hparams.latent_dims == 3 and loaded.grid.shape == (40,)
    torch.testing.assert_close(loaded.grid, dm.grid)
    curves = dm.splits["val"][0]
    torch.testing.assert_close(loaded(curves), model.eval()(curves))
