"""invert.py end to end: one target, many targets, both methods, and every bad input."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import error_lines, run_script, run_subprocess

from betaae.checkpoints import load_model
from betaae.families import get_family
from betaae.inversion import invert
from betaae.model import sse


def test_one_target_prints_code_residual_error_evaluations_and_writes_json_and_png(trained_run, tmp_path):
    result = run_subprocess("invert.py", [f"ckpt_path={trained_run}", "alpha=2", "beta=4", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-2000:]
    for text in ("latent code:", "residual", "max |pdf error|", "evaluations:", "time:", "best-matching alpha="):
        assert text in result.stdout
    summary = json.loads((tmp_path / "inversion.json").read_text())
    assert summary["method"] == "nelder-mead" and summary["init"] == "encoder" and summary["count"] == 1
    assert summary["checkpoint"].endswith("best.ckpt")
    assert summary["residual"] < 1.0 and summary["evaluations"] > 10
    assert abs(summary["fit_alpha"] - 2) < 0.3 and abs(summary["fit_beta"] - 4) < 0.6
    assert (tmp_path / "inversion.png").stat().st_size > 10_000


def test_zero_start_as_in_the_notebook_also_converges(trained_run, tmp_path, capsys):
    args = [
        f"ckpt_path={trained_run}/checkpoints/best.ckpt",
        "alpha=2",
        "beta=4",
        "init=zeros",
        f"hydra.run.dir={tmp_path}",
    ]
    code, _, _ = run_script("invert.py", args, capsys)
    assert code == 0
    assert json.loads((tmp_path / "inversion.json").read_text())["residual"] < 1.0


def test_inverting_a_test_curve_reaches_about_the_autoencoders_own_reconstruction_error(trained_run):
    model = load_model(trained_run)
    family = get_family("beta")
    params = torch.tensor([[2.0, 4.0], [0.7, 1.3], [3.5, 0.9], [1.2, 1.2]], dtype=torch.float64)
    targets = family.log_pdf(model.grid.double(), params).float()
    with torch.no_grad():
        reconstruction = sse(model(targets), targets).sqrt()  # same norm as the inversion residual
    found = invert(model, targets, "nelder-mead", "zeros")
    assert (found["residual"] <= 1.5 * reconstruction + 1e-3).all(), (found["residual"], reconstruction)


@pytest.mark.parametrize("method", ["nelder-mead", "adam"])
def test_many_targets_from_a_parameter_file_get_one_csv_row_each_with_recovery_error(
    trained_run, tmp_path, capsys, method
):
    pairs = np.random.default_rng(0).uniform(0.5, 4.5, size=(12, 2))
    np.savetxt(tmp_path / "pairs.csv", pairs, delimiter=",", header="alpha,beta", comments="")
    out = tmp_path / "out"
    code, stdout, _ = run_script(
        "invert.py",
        [f"ckpt_path={trained_run}", f"targets={tmp_path / 'pairs.csv'}", f"method={method}", f"hydra.run.dir={out}"],
        capsys,
    )
    assert code == 0
    rows = np.genfromtxt(out / "inversion.csv", delimiter=",", names=True)
    assert len(rows) == 12
    assert np.allclose(rows["true_alpha"], pairs[:, 0]) and np.allclose(rows["true_beta"], pairs[:, 1])
    assert np.all(rows["residual"] < 2.0)
    assert np.median(np.abs(rows["error_alpha"])) < 0.3
    summary = json.loads((out / "inversion.json").read_text())
    assert summary["count"] == 12 and summary["method"] == method
    assert "median_abs_error_alpha" in summary and "inverted 12 targets" in stdout


def test_batched_method_matches_nelder_mead_residuals(trained_run):
    model = load_model(trained_run)
    params = torch.tensor(np.random.default_rng(1).uniform(0.3, 4.8, size=(40, 2)))
    targets = get_family("beta").log_pdf(model.grid.double(), params).float()
    nm = invert(model, targets, "nelder-mead")
    batched = invert(model, targets, "adam")
    assert batched["residual"].median() <= nm["residual"].median() * 1.05


def test_log_pdf_rows_from_a_npy_file_are_inverted_without_known_parameters(trained_run, tmp_path, capsys):
    model = load_model(trained_run)
    curves = get_family("beta").log_pdf(model.grid.double(), torch.tensor([[2.0, 2.0], [1.5, 3.0]])).float()
    np.save(tmp_path / "curves.npy", curves.numpy())
    out = tmp_path / "out"
    code, _, _ = run_script(
        "invert.py",
        [f"ckpt_path={trained_run}", f"targets={tmp_path / 'curves.npy'}", "method=adam", f"hydra.run.dir={out}"],
        capsys,
    )
    assert code == 0
    rows = np.genfromtxt(out / "inversion.csv", delimiter=",", names=True)
    assert len(rows) == 2 and "true_alpha" not in rows.dtype.names
    assert abs(rows["fit_alpha"][0] - 2.0) < 0.3


def bad_files(tmp_path, trained_run):
    """Each bad input of the README's invert table, as command-line arguments."""
    not_ours = tmp_path / "not_ours.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1.0}}, not_ours)
    truncated = tmp_path / "truncated.ckpt"
    data = (trained_run / "checkpoints" / "best.ckpt").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    np.save(tmp_path / "short.npy", np.zeros((3, 50)))
    rows = np.zeros((3, 100))
    rows[1, 7] = np.nan
    np.save(tmp_path / "nan.npy", rows)
    np.savetxt(tmp_path / "neg.csv", np.array([[1.0, 2.0], [-1.0, 2.0]]), delimiter=",")
    nan_first = np.zeros((2, 100))
    nan_first[0, :] = np.nan
    np.savetxt(tmp_path / "nan_first.csv", nan_first, delimiter=",")  # a first row of "nan" is data, not a header
    ckpt = f"ckpt_path={trained_run}"
    return [
        ([f"ckpt_path={tmp_path / 'missing.ckpt'}", "alpha=2", "beta=4"], "no such file or directory"),
        ([f"ckpt_path={tmp_path}", "alpha=2", "beta=4"], "directory has no checkpoints/best.ckpt"),
        ([f"ckpt_path={truncated}", "alpha=2", "beta=4"], "cannot be read as a checkpoint (truncated or corrupt?)"),
        ([f"ckpt_path={garbage}", "alpha=2", "beta=4"], "cannot be read as a checkpoint (truncated or corrupt?)"),
        ([f"ckpt_path={not_ours}", "alpha=2", "beta=4"], "not a betaae checkpoint"),
        ([ckpt, "alpha=0", "beta=4"], "alpha=0 is not allowed: must be finite and > 0"),
        ([ckpt, "alpha=2", "beta=-1"], "beta=-1 is not allowed: must be finite and > 0"),
        ([ckpt, "alpha=nan", "beta=4"], "alpha=nan is not allowed: must be finite and > 0"),
        ([ckpt, "alpha=inf", "beta=4"], "alpha=inf is not allowed: must be finite and > 0"),
        ([ckpt, f"targets={tmp_path / 'short.npy'}"], "rows have 50 values but the checkpoint's grid has 100 points"),
        ([ckpt, f"targets={tmp_path / 'nan.npy'}"], "row 1 has non-finite values"),
        ([ckpt, f"targets={tmp_path / 'nan_first.csv'}"], "row 0 has non-finite values"),
        ([ckpt, f"targets={tmp_path / 'neg.csv'}"], "alpha=-1 (row 1) is not allowed: must be finite and > 0"),
        ([ckpt, f"targets={tmp_path / 'none.npy'}"], "no such file"),
        (
            [ckpt, "alpha=2", "beta=4", "method=lbfgs"],
            "method='lbfgs' is not allowed: must be one of nelder-mead, adam",
        ),
        ([ckpt, "alpha=2", "beta=4", "init=random"], "init='random' is not allowed: must be one of encoder, zeros"),
        ([ckpt], "give a target: alpha=A beta=B"),
        (["alpha=2", "beta=4"], "ckpt_path is required"),
    ]


def test_every_bad_invert_input_gets_one_line_exit_2_and_no_result_files(trained_run, tmp_path, capsys):
    for i, (args, message) in enumerate(bad_files(tmp_path, trained_run)):
        out = tmp_path / f"run{i}"
        code, _, err = run_script("invert.py", [*args, f"hydra.run.dir={out}"], capsys)
        lines = error_lines(err)
        assert code == 2, (args, err)
        assert len(lines) == 1 and message in lines[0], (args, err)
        assert "Traceback" not in err
        assert not (out / "inversion.json").exists() and not (out / "inversion.csv").exists()


def test_verbose_shows_the_traceback(trained_run, tmp_path, capsys):
    code, _, err = run_script(
        "invert.py",
        [f"ckpt_path={trained_run}", "alpha=0", "beta=4", "verbose=true", f"hydra.run.dir={tmp_path}"],
        capsys,
    )
    assert code != 0 and "Traceback" in err and "TargetError" in err


def test_a_run_directory_without_best_uses_last(trained_run, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(trained_run / "checkpoints" / "last.ckpt", run / "checkpoints" / "last.ckpt")
    assert load_model(run).checkpoint_path.endswith("last.ckpt")
