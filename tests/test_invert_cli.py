"""invert.py end to end: one target, many targets, each method with its own options, and every bad input."""

import csv
import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from helpers import QUIET, ROOT, error_lines, run_script, run_subprocess, train_in_process

from betaae.families import get_family
from betaae.inversion.methods import METHODS, Inversion, find_codes
from betaae.models.base import sse
from betaae.models.checkpoints import rebuild


def read_csv(path) -> dict[str, np.ndarray]:
    """The columns of an inversion.csv by name (numbers as floats, the rest as text)."""
    import csv

    with open(path, newline="") as f:
        records = list(csv.DictReader(f))
    columns = {}
    for key in records[0]:
        values = [r[key] for r in records]
        try:
            columns[key] = np.array([float(v) for v in values])
        except ValueError:
            columns[key] = np.array(values)
    return columns


@pytest.fixture(scope="module")
def gamma_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("gamma")
    train_in_process(
        [
            "data=gamma",
            "data.num_train=256",
            "data.num_val=64",
            "data.num_test=64",
            "model.hidden=[16]",
            "trainer.max_epochs=1",
            "trainer.accelerator=cpu",
            *QUIET,
        ],
        run,
    )
    return run


def test_one_target_prints_code_residual_error_evaluations_and_writes_json_and_png(trained_run, tmp_path):
    result = run_subprocess("invert.py", [f"ckpt_path={trained_run}", "alpha=2", "beta=4", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-2000:]
    for text in ("latent code:", "residual, decoded vs target (log-pdf): RMS", "verdict:    described", "noise:"):
        assert text in result.stdout
    assert "best-matching parameters: alpha=" in result.stdout and "(95% intervals)" in result.stdout
    assert result.stderr.strip() == ""  # no warning: the target lies inside the training ranges
    summary = json.loads((tmp_path / "inversion.json").read_text())
    assert summary["method"] == "nelder-mead" and summary["init"] == "encoder" and summary["count"] == 1
    assert summary["method_options"] == {"max_iter": 2000, "xatol": 1e-5, "fatol": 1e-7}
    assert summary["checkpoint"].endswith("best.ckpt")
    assert summary["residual_decoded_vs_target"] < 1.0 and summary["evaluations"] > 10
    assert abs(summary["fit_alpha"] - 2) < 0.3 and abs(summary["fit_beta"] - 4) < 0.6
    assert summary["fit_alpha_95%_low"] < summary["fit_alpha"] < summary["fit_alpha_95%_high"]
    assert summary["described"] is True and summary["fit_ok"] is True
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
    assert json.loads((tmp_path / "inversion.json").read_text())["residual_decoded_vs_target"] < 1.0


def test_params_may_be_a_list_or_a_mapping_by_name(trained_run, tmp_path, capsys):
    for i, given in enumerate(["params=[2,4]", "params={alpha:2,beta:4}"]):
        code, _, err = run_script(
            "invert.py", [f"ckpt_path={trained_run}", given, f"hydra.run.dir={tmp_path / str(i)}"], capsys
        )
        assert code == 0, err
        summary = json.loads((tmp_path / str(i) / "inversion.json").read_text())
        assert (summary["true_alpha"], summary["true_beta"]) == (2.0, 4.0)


def test_inverting_a_test_curve_reaches_about_the_autoencoders_own_reconstruction_error(trained_run):
    loaded = rebuild(trained_run)
    params = torch.tensor([[2.0, 4.0], [0.7, 1.3], [3.5, 0.9], [1.2, 1.2]], dtype=torch.float64)
    targets = get_family("beta").log_pdf(loaded.grid.double(), params).float()
    with torch.no_grad():
        reconstruction = sse(loaded.model.reconstruct(targets), targets).sqrt()  # same norm as the residual
    found = find_codes(loaded.model, targets, "nelder-mead", "zeros")
    assert isinstance(found, Inversion) and found.codes.shape == (4, 2) and found.evaluations.shape == (4,)
    assert (found.residual <= 1.5 * reconstruction + 1e-3).all(), (found.residual, reconstruction)


@pytest.mark.parametrize("method", list(METHODS))
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
    rows = read_csv(out / "inversion.csv")
    assert len(rows["target"]) == 12
    assert np.allclose(rows["true_alpha"], pairs[:, 0]) and np.allclose(rows["true_beta"], pairs[:, 1])
    assert np.all(rows["residual_decoded_vs_target"] < 2.0)
    assert np.median(np.abs(rows["error_alpha"])) < 0.3
    assert np.all(rows["fit_alpha_95%_low"] <= rows["fit_alpha"]) and np.all(
        rows["fit_alpha"] <= rows["fit_alpha_95%_high"]
    )
    summary = json.loads((out / "inversion.json").read_text())
    assert summary["count"] == 12 and summary["method"] == method
    assert "median_abs_error_alpha" in summary and "inverted 12 targets" in stdout


def test_each_method_takes_its_own_options(trained_run, tmp_path, capsys):
    args = [f"ckpt_path={trained_run}", "alpha=2", "beta=4", "method=adam", "method.steps=7"]
    code, _, _ = run_script("invert.py", [*args, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "inversion.json").read_text())
    assert summary["method_options"] == {"steps": 7, "lr": 0.05} and summary["evaluations"] == 7


def test_batched_method_matches_nelder_mead_residuals(trained_run):
    loaded = rebuild(trained_run)
    params = torch.tensor(np.random.default_rng(1).uniform(0.3, 4.8, size=(40, 2)))
    targets = get_family("beta").log_pdf(loaded.grid.double(), params).float()
    nm = find_codes(loaded.model, targets, "nelder-mead")
    batched = find_codes(loaded.model, targets, "adam")
    assert batched.residual.median() <= nm.residual.median() * 1.05


def test_log_pdf_rows_from_a_npy_file_are_inverted_without_known_parameters(trained_run, tmp_path, capsys):
    loaded = rebuild(trained_run)
    curves = get_family("beta").log_pdf(loaded.grid.double(), torch.tensor([[2.0, 2.0], [1.5, 3.0]])).float()
    np.save(tmp_path / "curves.npy", curves.numpy())
    out = tmp_path / "out"
    code, _, _ = run_script(
        "invert.py",
        [f"ckpt_path={trained_run}", f"targets={tmp_path / 'curves.npy'}", "method=adam", f"hydra.run.dir={out}"],
        capsys,
    )
    assert code == 0
    rows = read_csv(out / "inversion.csv")
    assert len(rows["target"]) == 2 and "true_alpha" not in rows
    assert abs(rows["fit_alpha"][0] - 2.0) < 0.3


def test_targets_outside_the_training_ranges_get_a_warning_with_their_count(trained_run, tmp_path, capsys):
    np.savetxt(tmp_path / "pairs.csv", np.array([[2.0, 4.0], [7.0, 1.0], [2.0, 9.0]]), delimiter=",")
    args = [
        f"ckpt_path={trained_run}",
        f"targets={tmp_path / 'pairs.csv'}",
        "method=adam",
        f"hydra.run.dir={tmp_path / 'o'}",
    ]
    code, _, err = run_script("invert.py", args, capsys)
    assert code == 0
    assert "warning: 2 of 3 targets (their parameters) lie outside the checkpoint's training ranges" in err
    assert "alpha in [0, 5]" in err


def bad_inputs(root, trained_run, gamma_run):
    """Each bad input of the README's invert table, as (arguments, a piece of the one line it gets)."""
    not_ours = root / "not_ours.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1.0}}, not_ours)
    truncated = root / "truncated.ckpt"
    data = (trained_run / "checkpoints" / "best.ckpt").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    (root / "garbage.ckpt").write_bytes(b"not a checkpoint at all")
    np.save(root / "short.npy", np.zeros((3, 50)))
    rows = np.zeros((3, 100))
    rows[1, 7] = np.inf
    np.save(root / "inf.npy", rows)
    few = np.full((2, 100), np.nan)
    few[:, :3] = 0.0
    np.save(root / "few.npy", few)
    np.save(root / "x.npy", np.linspace(0.0, 0.5, 100))
    np.savetxt(root / "draws.csv", np.array([0.2, 0.5, 1.5]))
    np.save(root / "huge.npy", np.full((2, 100), 1e30))
    np.savetxt(root / "neg.csv", np.array([[1.0, 2.0], [-1.0, 2.0]]), delimiter=",")
    nan_first = np.zeros((2, 100))
    nan_first[0, :] = np.nan
    np.savetxt(root / "nan_first.csv", nan_first, delimiter=",")  # a first row of "nan" is data, not a header
    (root / "empty.csv").write_text("\n\n")
    np.save(root / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(root / "complex.npy", np.ones((2, 100)) * (1 + 1j))
    (root / "a_directory").mkdir()
    ckpt = f"ckpt_path={trained_run}"
    return {
        "missing-checkpoint": (
            [f"ckpt_path={root / 'missing.ckpt'}", "alpha=2", "beta=4"],
            "no such file or directory",
        ),
        "run-dir-without-checkpoints": (
            [f"ckpt_path={root}", "alpha=2", "beta=4"],
            "directory has no checkpoints/best.ckpt",
        ),
        "truncated-checkpoint": ([f"ckpt_path={truncated}", "alpha=2", "beta=4"], "cannot be read as a checkpoint"),
        "garbage-checkpoint": (
            [f"ckpt_path={root / 'garbage.ckpt'}", "alpha=2", "beta=4"],
            "cannot be read as a checkpoint",
        ),
        "other-projects-checkpoint": ([f"ckpt_path={not_ours}", "alpha=2", "beta=4"], "not a betaae checkpoint"),
        "alpha=0": ([ckpt, "alpha=0", "beta=4"], "alpha=0 is not allowed: must be a finite number > 0"),
        "beta=-1": ([ckpt, "alpha=2", "beta=-1"], "beta=-1 is not allowed: must be a finite number > 0"),
        "alpha=nan": ([ckpt, "alpha=nan", "beta=4"], "alpha=nan is not allowed: must be a finite number > 0"),
        "alpha=inf": ([ckpt, "alpha=inf", "beta=4"], "alpha=inf is not allowed: must be a finite number > 0"),
        "only-alpha": ([ckpt, "alpha=2"], "give every parameter of the beta family: alpha=... beta=..."),
        "three-params-for-beta": ([ckpt, "params=[1,2,3]"], "the beta family has 2 parameters (alpha, beta), got 3"),
        "unknown-param-name": ([ckpt, "params={alpha:1,gamma:2}"], "must name each of the beta family's parameters"),
        "alpha-on-gamma": (
            [f"ckpt_path={gamma_run}", "alpha=2", "beta=4"],
            "alpha=2: the gamma family has no alpha; its parameters are shape, rate; use params=[shape,rate]",
        ),
        "short-rows": (
            [ckpt, f"targets={root / 'short.npy'}"],
            "rows have 50 values but the checkpoint's grid has 100 points",
        ),
        "inf-row": ([ckpt, f"targets={root / 'inf.npy'}"], "row 1 has infinite values; a missing point is NaN"),
        "nan-first-csv-row": ([ckpt, f"targets={root / 'nan_first.csv'}"], "row 0 has 0 observed point(s); at least 4"),
        "huge-values": ([ckpt, f"targets={root / 'huge.npy'}"], "values reach 1e+30; a log-density on the grid stays"),
        "too-few-points": ([ckpt, f"targets={root / 'few.npy'}"], "row 0 has 3 observed point(s); at least 4"),
        "x-of-another-length": (
            [ckpt, f"targets={root / 'short.npy'}", f"x={root / 'x.npy'}"],
            "rows have 50 values but x has 100",
        ),
        "x-beyond-the-grid": (
            [ckpt, f"targets={root / 'inf.npy'}", f"x={root / 'x.npy'}"],
            "x-value(s) lie outside the checkpoint's grid [0.01, 0.99]",
        ),
        "samples-outside-support": (
            [ckpt, f"samples={root / 'draws.csv'}"],
            "outside the family's support (0, 1)",
        ),
        "noise_sd=-1": (
            [ckpt, "alpha=2", "beta=4", "noise_sd=-1"],
            "noise_sd=-1 is not allowed: must be a finite number >= 1e-12",
        ),
        "negative-alpha-row": (
            [ckpt, f"targets={root / 'neg.csv'}"],
            "alpha=-1 (row 1) is not allowed: must be a finite number > 0",
        ),
        "missing-targets": ([ckpt, f"targets={root / 'none.npy'}"], "no such file"),
        "targets-directory": ([ckpt, f"targets={root / 'a_directory'}"], "is a directory; give a .npy or .csv file"),
        "empty-csv": ([ckpt, f"targets={root / 'empty.csv'}"], "the file is empty"),
        "strings-npy": ([ckpt, f"targets={root / 'strings.npy'}"], "holds <U1 values; values must be numbers"),
        "complex-npy": ([ckpt, f"targets={root / 'complex.npy'}"], "holds complex numbers; values must be real"),
        "targets-and-params": (
            [ckpt, f"targets={root / 'neg.csv'}", "alpha=2", "beta=3"],
            "give either targets=FILE (or samples=FILE) or one target",
        ),
        "unknown-method": (
            [ckpt, "alpha=2", "beta=4", "method=lbfgs"],
            "Could not find 'method/lbfgs'; Available options in 'method': adam, nelder-mead",
        ),
        "bad-method-option": (
            [ckpt, "alpha=2", "beta=4", "method=adam", "method.steps=0"],
            "method.steps=0 is not allowed: must be an integer >= 1",
        ),
        "other-methods-option": (
            [ckpt, "alpha=2", "beta=4", "method=adam", "+method.max_iter=5"],
            "unknown option method.max_iter; known options of method adam: lr, steps",
        ),
        "init=random": (
            [ckpt, "alpha=2", "beta=4", "init=random"],
            "init='random' is not allowed: must be one of encoder, zeros",
        ),
        "no-target": ([ckpt], "give a target: alpha=A beta=B, params=[alpha,beta]"),
        "no-checkpoint": (["alpha=2", "beta=4"], "ckpt_path is required"),
    }


CASES = [
    "missing-checkpoint",
    "run-dir-without-checkpoints",
    "truncated-checkpoint",
    "garbage-checkpoint",
    "other-projects-checkpoint",
    "alpha=0",
    "beta=-1",
    "alpha=nan",
    "alpha=inf",
    "only-alpha",
    "three-params-for-beta",
    "unknown-param-name",
    "alpha-on-gamma",
    "short-rows",
    "inf-row",
    "nan-first-csv-row",
    "huge-values",
    "too-few-points",
    "x-of-another-length",
    "x-beyond-the-grid",
    "samples-outside-support",
    "noise_sd=-1",
    "negative-alpha-row",
    "missing-targets",
    "targets-directory",
    "empty-csv",
    "strings-npy",
    "complex-npy",
    "targets-and-params",
    "unknown-method",
    "bad-method-option",
    "other-methods-option",
    "init=random",
    "no-target",
    "no-checkpoint",
]


@pytest.fixture(scope="module")
def bad(trained_run, gamma_run, tmp_path_factory):
    return bad_inputs(tmp_path_factory.mktemp("bad"), trained_run, gamma_run)


@pytest.mark.parametrize("case", CASES)
def test_every_bad_invert_input_gets_one_line_exit_2_and_no_result_files(case, bad, tmp_path, capsys):
    args, message = bad[case]
    code, _, err = run_script("invert.py", [*args, f"hydra.run.dir={tmp_path}"], capsys)
    lines = error_lines(err)
    assert code == 2, err
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and "Warning" not in err
    assert not (tmp_path / "inversion.json").exists() and not (tmp_path / "inversion.csv").exists()


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
    assert rebuild(run).path.endswith("last.ckpt")


FIXTURE_RUN = ROOT / "tests" / "fixtures" / "release-0.3" / "run"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alpha=2", "beta=4", "+bogus=1"], "unknown option bogus: invert.py has no such option"),
        (["alpha=2", "beta=4", "+noise=0.05"], "unknown option noise: invert.py has no such option"),
        (["alpha=2", "beta=4", "+latent_dims=2"], "unknown option latent_dims: invert.py has no such option"),
        (["alpha=2", "beta=4", "noise_sd=1e-300"], "noise_sd=1e-300 is not allowed: must be a finite number >= 1e-12"),
        (["samples=SAMPLES"], "samples=SAMPLES: target 0 has 1 draw(s) outside the family's support"),
    ],
)
def test_a_refused_inversion_says_why_in_one_line_and_leaves_nothing(tmp_path, args, message):
    samples = tmp_path / "draws.csv"
    samples.write_text("0\n" + "\n".join(str(0.1 + 0.05 * i) for i in range(15)) + "\n")
    args = [a.replace("SAMPLES", str(samples)) for a in args]
    out = tmp_path / "inv"
    done = run_subprocess("invert.py", [f"ckpt_path={FIXTURE_RUN}", *args, f"hydra.run.dir={out}"])
    assert done.returncode == 2, done.stderr
    (line,) = error_lines(done.stderr)
    assert message.replace("SAMPLES", str(samples)) in line, line
    assert not out.exists()


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_a_stop_during_the_inversion_leaves_nothing_and_says_so(signum, code, name, tmp_path):
    targets = tmp_path / "params.csv"
    np.savetxt(targets, np.random.default_rng(0).uniform(0.5, 4.5, (400, 2)), delimiter=",")  # about 40 s of work
    out = tmp_path / "inv"
    checkpoint = ROOT / "tests" / "fixtures" / "release-0.3" / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "invert.py"),
            f"ckpt_path={checkpoint}",
            f"targets={targets}",
            f"hydra.run.dir={out}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not (out / ".lock").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    time.sleep(4)  # past loading torch and the checkpoint, into the inversion
    assert process.poll() is None, "the inversion ended before it could be stopped: give it more targets"
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err[-2000:]
    assert error_lines(err) == [f"stopped: interrupted by {name} before its results were written; nothing was kept"]
    assert not out.exists()


def test_targets_are_named_as_the_user_named_them_and_every_flagged_one_is_named_and_shown(trained_run, tmp_path):
    from scipy import stats

    x = np.linspace(0.02, 0.98, 60)
    mixture = np.log(0.5 * stats.beta(2, 8).pdf(x) + 0.5 * stats.beta(8, 2).pdf(x))
    table = np.column_stack([x, stats.beta(2, 4).logpdf(x), mixture, stats.beta(3, 3).logpdf(x)])
    path = tmp_path / "mine.csv"
    np.savetxt(path, table, delimiter=",", header="x,beta_2_4,mixture,beta_3_3", comments="")
    out = tmp_path / "inv"
    result = run_subprocess("invert.py", [f"ckpt_path={trained_run}", f"targets={path}", f"hydra.run.dir={out}"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "verdicts:   2 described, 1 not described: mixture" in result.stdout
    assert "warning: mixture: the target is not well described by this model" in result.stderr
    rows = {row["name"]: row for row in csv.DictReader((out / "inversion.csv").open())}
    assert list(rows) == ["beta_2_4", "mixture", "beta_3_3"]
    # The nearest family member to the mixture is in its row, but never as an answer.
    assert rows["mixture"]["fit_ok"] == "False" and "not an estimate" in rows["mixture"]["fit_verdict"]
    assert rows["beta_2_4"]["fit_ok"] == "True"


def test_one_target_the_model_does_not_describe_gets_no_parameters_on_the_console(trained_run, tmp_path):
    from scipy import stats

    x = np.linspace(0.02, 0.98, 60)
    mixture = np.log(0.5 * stats.beta(2, 8).pdf(x) + 0.5 * stats.beta(8, 2).pdf(x))
    path = tmp_path / "one.csv"
    np.savetxt(path, np.column_stack([x, mixture]), delimiter=",", header="x,mixture", comments="")
    result = run_subprocess(
        "invert.py", [f"ckpt_path={trained_run}", f"targets={path}", f"hydra.run.dir={tmp_path / 'o'}"]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "best-matching parameters" not in result.stdout
    assert "no parameters: the nearest member of the family to a target the model does not describe" in result.stdout


def test_whether_a_fit_on_the_edge_of_the_ranges_is_outside_does_not_depend_on_the_files_layout(trained_run, tmp_path):
    from scipy import stats

    # Beta(2, 5) sits on the edge beta = 5: its fit moves by 1e-6 with the batch it is encoded in. Only a
    # whole 95% interval beyond the edge counts as outside, so the verdict no longer comes and goes.
    x = np.linspace(0.02, 0.98, 60)
    warnings = []
    for layout in ("a", "b"):
        columns = [x, stats.beta(2, 5).logpdf(x)] + ([stats.beta(3, 3).logpdf(x)] if layout == "b" else [])
        path = tmp_path / f"{layout}.csv"
        names = "x,edge" + (",inside" if layout == "b" else "")
        np.savetxt(path, np.column_stack(columns), delimiter=",", header=names, comments="")
        result = run_subprocess(
            "invert.py", [f"ckpt_path={trained_run}", f"targets={path}", f"hydra.run.dir={tmp_path / layout}"]
        )
        assert result.returncode == 0, result.stderr[-2000:]
        line = [w for w in result.stderr.splitlines() if "training ranges" in w]
        warnings.append(bool(line) and line[0].endswith(": edge; their codes are extrapolations"))
        row = next(csv.DictReader((tmp_path / layout / "inversion.csv").open()))
        low, high = float(row["fit_beta_95%_low"]), float(row["fit_beta_95%_high"])
        assert warnings[-1] == (low > 5), (layout, low, high)
    assert warnings[0] == warnings[1]


def test_the_figure_has_a_panel_per_target_up_to_a_bound_flagged_first(trained_run, tmp_path):
    from betaae import plots

    params = np.random.default_rng(0).uniform(0.5, 4.5, (9, 2))
    path = tmp_path / "nine.csv"
    np.savetxt(path, params, delimiter=",", header="alpha,beta", comments="")
    out = tmp_path / "inv"
    result = run_subprocess("invert.py", [f"ckpt_path={trained_run}", f"targets={path}", f"hydra.run.dir={out}"])
    assert result.returncode == 0, result.stderr[-2000:]
    import matplotlib.image

    height, width = matplotlib.image.imread(out / "inversion.png").shape[:2]
    assert plots.MAX_TARGET_PANELS == 6 and width > 1.5 * height  # two rows of three panels
