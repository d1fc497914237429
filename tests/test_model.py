"""Models: the interface, the loss against a hand computation, the VAE, learning, and checkpoints that
rebuild their model on their own (without Lightning)."""

import subprocess
import sys

import pytest
import torch
from helpers import quiet_trainer

from betaae.learner.datamodule import CurveDataModule
from betaae.learner.module import Learner
from betaae.models.autoencoder import AutoEncoder
from betaae.models.base import ACTIVATIONS, build_model, mean_terms, sse
from betaae.models.checkpoints import rebuild
from betaae.models.vae import VAE

AE = "betaae.models.AutoEncoder"
SMALL_DATA = {"family": "beta", "grid_low": 0.01, "grid_high": 0.99, "num_points": 30}


@pytest.mark.parametrize(("latent_dims", "hidden"), [(1, [128]), (2, [64, 32]), (3, []), (2, 16)])
@pytest.mark.parametrize("cls", [AutoEncoder, VAE])
def test_encode_decode_and_reconstruct_shapes(cls, latent_dims, hidden):
    model = cls(num_points=30, latent_dims=latent_dims, hidden=hidden)
    curves = torch.randn(7, 30)
    assert model.encode(curves).shape == (7, latent_dims) and model.latent_dims == latent_dims
    assert model.decode(model.encode(curves)).shape == (7, 30) and model.reconstruct(curves).shape == (7, 30)
    assert all(t.shape == (7,) for t in model.loss_terms(curves).values())


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activation_is_used_between_layers_and_not_after_the_last(activation):
    model = AutoEncoder(num_points=30, hidden=[16, 8], activation=activation)
    layers = list(model.encoder)
    assert [type(m) for m in layers[1::2]] == [ACTIVATIONS[activation]] * 2 and isinstance(layers[-1], torch.nn.Linear)


def test_the_notebook_architecture_has_26_470_parameters():
    model = AutoEncoder(num_points=100, latent_dims=2, hidden=[128], activation="relu")
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(100, 128), (128, 2), (2, 128), (128, 100)]
    assert sum(p.numel() for p in model.parameters()) == 26_470


def test_loss_is_the_summed_squared_error_computed_by_hand():
    model = AutoEncoder(num_points=3, hidden=[4])
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.decoder[-1].bias.copy_(torch.tensor([1.0, 2.0, 3.0]))  # every reconstruction is [1, 2, 3]
    curves = torch.tensor([[1.0, 1.0, 1.0], [0.0, 2.0, 5.0]])
    terms = model.loss_terms(curves)
    # (0 + 1 + 4) + (1 + 0 + 4) = 10
    assert terms["loss"].sum().item() == pytest.approx(10.0) and terms["sse"].tolist() == pytest.approx([5.0, 5.0])
    assert sse(model.reconstruct(curves), curves).tolist() == pytest.approx([5.0, 5.0])
    assert mean_terms(model, curves) == pytest.approx({"sse": 5.0})


def test_vae_loss_is_sse_plus_beta_times_kl_and_it_encodes_with_the_mean():
    torch.manual_seed(0)
    # PyTorch's initialization of the output layer: a zero one decodes every code to the same curve.
    model = VAE(num_points=30, latent_dims=2, hidden=[16], beta=0.5, output_init="default")
    curves = torch.randn(5, 30)
    mean, log_var = model.posterior(curves)
    kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(dim=1)
    model.eval()
    terms = model.loss_terms(curves)
    torch.testing.assert_close(terms["kl"], kl)
    torch.testing.assert_close(terms["sse"], sse(model.decode(mean), curves))  # eval: the mean code
    torch.testing.assert_close(terms["loss"], terms["sse"] + 0.5 * kl)
    torch.testing.assert_close(model.encode(curves), mean)
    model.train()
    assert not torch.equal(model.loss_terms(curves)["sse"], terms["sse"])  # training samples a code


@pytest.mark.slow  # 1,500 one-step epochs: about 27 s on 2 cores
def test_a_small_model_overfits_one_batch_through_the_learner():
    dm = CurveDataModule(
        num_train=32, num_val=32, num_test=32, batch_size=32, shuffle=False, batches_per_step=1, online=False
    )
    torch.manual_seed(0)
    learner = Learner(
        model={"_target_": AE, "hidden": [128], "activation": "relu", "output_init": "default"},
        optimizer={"_target_": "torch.optim.Adam", "lr": 3e-3},
        scheduler={"_target_": "torch.optim.lr_scheduler.ExponentialLR", "gamma": 1.0},
        data=dm.spec,
    )
    dm.setup()
    before = mean_terms(learner.model, dm.splits["train"][0])["sse"]
    quiet_trainer(max_epochs=1500, limit_val_batches=0).fit(learner, datamodule=dm)
    after = mean_terms(learner.model, dm.splits["train"][0])["sse"]
    assert after < before / 1000 and after < 0.1


@pytest.mark.parametrize("target", [AE, "betaae.models.VAE"])
def test_checkpoint_holds_plain_hyperparameters_and_rebuilds_its_model_alone(target, tmp_path):
    dm = CurveDataModule(family="gamma", num_points=40, num_train=64, num_val=32, num_test=32, batch_size=32)
    spec = {"_target_": target, "latent_dims": 3, "hidden": [32, 16], "activation": "silu"}
    learner = Learner(model=spec, data=dm.spec)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(learner, datamodule=dm)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    raw = torch.load(path, weights_only=True)  # would raise on a stored module or partial
    assert raw["hyper_parameters"]["model"] == spec and raw["hyper_parameters"]["data"]["family"] == "gamma"
    loaded = rebuild(path)
    assert type(loaded.model).__name__ == target.rsplit(".", 1)[1] and loaded.model.latent_dims == 3
    assert loaded.family.name == "gamma" and loaded.grid.shape == (40,)
    torch.testing.assert_close(loaded.grid, dm.grid)
    curves = dm.splits["val"][0]
    torch.testing.assert_close(loaded.model.reconstruct(curves), learner.model.eval().reconstruct(curves))


def test_loading_a_checkpoint_does_not_import_lightning(trained_run):
    code = (
        "import sys\n"
        "from betaae.models.checkpoints import rebuild\n"
        f"rebuild({str(trained_run)!r})\n"
        "assert 'lightning' not in sys.modules, 'lightning was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_checkpoint_of_the_first_format_still_loads(tmp_path):
    old = AutoEncoder(num_points=100, latent_dims=2, hidden=[128])
    hparams = {
        "latent_dims": 2,
        "hidden": [128],
        "lr": 5e-3,
        "gamma": 0.985,
        "weight_decay": 0.0,
        "data": {
            "family": "beta",
            "grid_low": 0.01,
            "grid_high": 0.99,
            "num_points": 100,
            "params": {"alpha": [0.0, 5.0], "beta": [0.0, 5.0]},
        },
        "betaae_format": 1,
    }
    torch.save({"state_dict": old.state_dict(), "hyper_parameters": hparams}, tmp_path / "old.ckpt")
    loaded = rebuild(tmp_path / "old.ckpt")
    curves = torch.randn(4, 100)
    torch.testing.assert_close(loaded.model.reconstruct(curves), old.reconstruct(curves))


def test_build_model_refuses_a_class_that_is_not_a_model():
    with pytest.raises(TypeError, match=r"not a betaae\.models\.CurveModel subclass"):
        build_model({"_target_": "torch.nn.Linear"}, 10)
