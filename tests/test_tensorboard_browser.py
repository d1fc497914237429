"""TensorBoard as a person sees it: a real server and headless Chromium at 1600 x 1000 over one logdir holding
a single run, a grid sweep over seeds, an Optuna search and a continued sweep, read from the page itself.

Needs Chromium and its driver (Debian: chromium, chromium-driver; .ci/run installs them) and selenium (the
test extra). Set BETAAE_SCREENSHOTS=DIR to keep the screenshots (docs/tensorboard-*.png are made this way).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from helpers import TINY, run_subprocess, tensorboard_server

pytestmark = [
    pytest.mark.slow,  # nine small runs, then TensorBoard in a browser: about 90 s
    pytest.mark.skipif(
        importlib.util.find_spec("selenium") is None or not shutil.which("chromedriver"),
        reason="needs selenium and Chromium's driver (apt-get install chromium chromium-driver)",
    ),
]

SMALL = [*TINY, "callbacks.latent_images.every_n_epochs=0"]
WIDTH, HEIGHT = 1600, 1000

# Every element under root, through the shadow roots TensorBoard's components keep their parts in.
DEEP = """
function deep(root, selector, out) {
  root.querySelectorAll(selector).forEach(e => out.push(e));
  root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) deep(e.shadowRoot, selector, out); });
  return out;
}
function deepText(root) {  // the text a person reads under root, shadow roots included
  let text = '';
  root.childNodes.forEach(n => { text += n.nodeType === 3 ? n.textContent : deepText(n) + ' '; });
  if (root.shadowRoot) text += deepText(root.shadowRoot);
  return text;
}
"""


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """outputs/ as a user's would look after a good single run, a sweep over seeds, an Optuna search and a
    sweep continued after one job's results were lost."""
    root = tmp_path_factory.mktemp("tensorboard") / "outputs" / "train"
    single = root / "runs" / "2026-12-05_10-00-00"
    good = ["trainer.max_epochs=6", "data.num_train=8192", "data.num_val=128", "data.num_test=128"]
    commands = [
        [*good, "callbacks.latent_images.every_n_epochs=0", f"hydra.run.dir={single}"],
        ["-m", "seed=0,1,2", *SMALL, f"hydra.sweep.dir={root / 'multiruns' / 'seeds'}"],
        ["-m", "latent_dims=1,3", *SMALL, "trainer.max_epochs=3", f"hydra.sweep.dir={root / 'multiruns' / 'cont'}"],
    ]
    if importlib.util.find_spec("optuna") is not None:
        search = ["hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=2"]
        commands.append(["hparams_search=optuna", *search, *SMALL, f"hydra.sweep.dir={root / 'multiruns' / 'optuna'}"])
    for args in commands:
        result = run_subprocess("train.py", args)
        assert result.returncode == 0, result.stderr[-3000:]
    (root / "multiruns" / "cont" / "latent_dims=3" / "metrics.json").unlink()  # lost: the continue runs it again
    result = run_subprocess("train.py", commands[2])
    assert result.returncode == 0, result.stderr[-3000:]
    return root.parent


def runs_of(logdir: Path) -> dict[str, dict]:
    """Each run's name as TensorBoard shows it (its path under the logdir) and its metrics.json."""
    return {str(m.parent.relative_to(logdir)): json.loads(m.read_text()) for m in sorted(logdir.rglob("metrics.json"))}


@pytest.fixture(scope="module")
def browser(logdir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(arg)
    with tensorboard_server(logdir) as url:
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            yield driver, url
        finally:
            driver.quit()


def open_tab(driver, url: str, tab: str, ready: str, timeout: float = 60):
    """Open a TensorBoard tab and wait until the page holds `ready` (a JS expression over deep())."""
    driver.get(f"{url}/#{tab}")
    deadline = time.time() + timeout
    while not driver.execute_script(DEEP + f"return {ready};"):
        if time.time() > deadline:
            raise AssertionError(f"TensorBoard's {tab} tab did not show: {ready}")
        time.sleep(0.5)
    time.sleep(1)  # let the last columns and charts lay out
    keep = os.environ.get("BETAAE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(keep) / f"tensorboard-{tab.split('&')[0]}.png"))


def test_each_run_is_listed_once(browser, logdir):
    driver, url = browser
    names = list(runs_of(logdir))
    assert len(names) == 9 or len(names) == 6  # 6 without the optuna extra
    open_tab(driver, url, "scalars", "deep(document, 'tf-scalar-card', []).length > 0")
    shown = driver.execute_script(
        DEEP + "return deepText(deep(document, 'tf-runs-selector', [])[0]);"
    )  # the runs list, as one text
    for name in names:
        assert len(re.findall(re.escape(name) + r"(?=\s)", shown)) == 1, (name, shown)
    assert "/hparams" not in shown


def test_hparams_ranks_by_a_visible_column_and_shows_every_differing_setting(browser, logdir):
    driver, url = browser
    open_tab(driver, url, "hparams", "deep(document, 'vaadin-grid-cell-content', []).length > 20")
    cells = driver.execute_script(
        DEEP
        + """
        return deep(document, 'vaadin-grid-cell-content', [])
          .filter(c => c.offsetWidth > 0 && c.textContent.trim())
          .map(c => { const r = c.getBoundingClientRect();
                      return [c.textContent.trim(), Math.round(r.left), Math.round(r.right), Math.round(r.top)]; });
        """
    )
    header_top = min(top for _, _, _, top in cells)
    headers = {text: (left, right) for text, left, right, top in cells if top < header_top + 25}
    assert "ranking/val/sse_per_curve_best" in headers, headers
    assert headers["ranking/val/sse_per_curve_best"][1] <= WIDTH  # visible without scrolling
    assert "changed" in headers, headers
    # What the runs were given differs in seed, epochs, latent size, lr, gamma, batch and hidden: more than
    # the five columns TensorBoard ticks. The `changed` column holds each run's settings, whole.
    rows = [text for text, left, _, top in cells if top >= header_top + 25 and left == headers["changed"][0]]
    assert len(rows) == len(runs_of(logdir))
    given = driver.execute_script(
        DEEP + "return deepText(deep(document, 'tf-hparams-query-pane', [])[0]);"
    )  # the left pane lists each run's value of `changed` in full
    for setting in ("seed=0", "seed=2", "max_epochs=6", "max_epochs=3", "latent_dims=3"):
        assert setting in given, setting
    if importlib.util.find_spec("optuna") is not None:
        assert re.search(r"lr=0\.\d{1,6} gamma=0\.\d{1,4}", given)  # Optuna's values, 4 digits


def test_a_thousandfold_difference_reads_on_the_log10_chart(browser, logdir):
    """With 'Ignore outliers in chart scaling' unticked (TensorBoard ticks it; docs/outputs.md says so), the
    log10 chart's axis spans the best and the worst run."""
    driver, url = browser
    runs = runs_of(logdir)
    logs = [math.log10(m["test/sse_per_curve"]) for m in runs.values()]
    assert max(logs) - min(logs) >= 3  # the single run is a thousand times better than the tiny ones
    # Filtered to the one chart (as a user types it in "Filter tags"), which TensorBoard then shows first.
    open_tab(
        driver, url, "scalars&tagFilter=test%2Flog10_sse_per_curve", "deep(document, 'tf-scalar-card', []).length > 0"
    )
    driver.execute_script(
        DEEP
        + """
        const box = deep(document, 'paper-checkbox', []).find(b => b.textContent.includes('Ignore outliers'));
        if (box.checked) box.click();
        """
    )
    tag = "test/log10_sse_per_curve"
    script = (
        DEEP
        + f"""
        const card = deep(document, 'tf-scalar-card', []).find(c => c.tag === '{tag}');
        if (card) card.scrollIntoView();  // TensorBoard draws a chart only once it is in view
        return card ? deep(card.shadowRoot || card, '.y-axis text', []).map(t => t.textContent) : null;
    """
    )
    deadline = time.time() + 30
    while True:
        ticks = [float(t.replace("\u2212", "-")) for t in driver.execute_script(script) or [] if t]
        if ticks and min(ticks) <= min(logs) + 0.5 and max(ticks) >= max(logs) - 0.5:
            break
        if time.time() > deadline:
            raise AssertionError(f"{tag}: axis {ticks} does not span {min(logs):.2f} to {max(logs):.2f}")
        time.sleep(0.5)
    time.sleep(1)
    keep = os.environ.get("BETAAE_SCREENSHOTS")
    if keep:
        driver.save_screenshot(str(Path(keep) / "tensorboard-log10.png"))
