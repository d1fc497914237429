"""The docs' tables of measured figures, rendered from the benchmark's JSON:
`python benchmarks/report.py docs/bench.json [--write README.md docs/performance.md]`.

Each table sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in the docs; --write replaces what
is there with a fresh rendering, and without it the script prints the blocks. A test renders them again from
the committed JSON and compares, so a figure in the docs cannot drift from its measurement.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def g(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def ms(entry: dict, digits: int = 2) -> str:
    """mean ± sd of a spread entry."""
    return f"{g(entry['mean'], digits)} ± {g(entry['sd'], 1 if entry['sd'] else digits)}"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary(b: dict) -> str:
    rows = []
    d = b.get("default")
    if d:
        n = len(d["seeds"])
        rows.append(
            [
                f"`python train.py`, test SSE per curve (mean over 200,000 curves), {n} seeds",
                f"{ms(d['test/sse_per_curve'])}; median {ms(d['test/sse_per_curve_median'])}",
            ]
        )
        rows.append(["the same, in the hard corner min(α, β) ≤ 0.01", ms(d["test/sse_per_curve_edge"])])
        rows.append(
            ["its wall time from the shell; its training time", f"{ms(d['wall_s'], 3)} s; {ms(d['train_time_s'], 3)} s"]
        )
        if "start_s" in d and "gflop_per_s" in d:
            rows.append(
                [
                    "its time from the shell to the first step; its training's arithmetic rate",
                    f"{ms(d['start_s'], 2)} s; {ms(d['gflop_per_s'], 2)} GFLOP/s",
                ]
            )
    q = b.get("quick")
    if q:
        rows.append(
            [
                "`python train.py experiment=quick`: test SSE per curve; wall time",
                f"{ms(q['test/sse_per_curve'])}; {ms(q['wall_s'], 2)} s",
            ]
        )
    c = b.get("conditions")
    if c:
        rows.append(
            [
                "training time over a careful plain PyTorch loop's, alone (above 1×: slower)",
                f"{c['alone']['ratio_to_plain'][0]:.2f}×",
            ]
        )
        two = c["two together"]["slowdown_vs_alone"]
        rows.append(["two runs started together, each against one alone", " and ".join(f"{x:.2f}×" for x in two)])
        rows.append(
            ["one run beside a busy process, against alone", f"{c['beside a busy loop']['slowdown_vs_alone'][0]:.2f}×"]
        )
    th = b.get("threads")
    if th:
        rows.append(
            [
                "one run alone, threads following the load, against the fastest fixed count",
                f"{th['ratio_to_fastest_fixed']:.2f}×",
            ]
        )
    s = b.get("sweeps")
    if s:
        rows.append(["a 4-job sweep, jobs side by side (the default) against one after another", f"{s['ratio']:.2f}×"])
    t = b.get("test_set")
    if t:
        rows.append(
            [
                f"the test mean's spread over {t['draws']} draws of {t['curves']:,} curves: importance-sampled; plain",
                f"{_rel_sd(t['importance_sampled'])}; {_rel_sd(t['uniform'])}",
            ]
        )
    i = b.get("inversion")
    if i:
        rows.append(
            [
                f"{i['targets']:,} noisy targets inverted with intervals: batched (adam); Nelder-Mead",
                f"{seconds(i['adam']['seconds'])}; {seconds(i['nelder-mead']['seconds'])}",
            ]
        )
    a = b.get("answers")
    if a:
        refusals = {k: v for k, v in a.items() if "help" not in k and "cfg" not in k and "one target" not in k}
        rows.append(["the slowest refusal of a bad input, from the shell", f"{max(refusals.values()):.2f} s"])
    return _table(["figure", "measured"], rows)


def _rel_sd(entry: dict) -> str:
    return f"sd {100 * entry['sd'] / entry['mean']:.1f}% of the mean"


SEED_FIGURES = (
    "test/sse_per_curve",
    "test/sse_per_curve_median",
    "test/sse_per_curve_p99",
    "test/sse_per_curve_max",
    "test/sse_per_curve_edge",
    "val/sse_per_curve_best",
)


def seeds(b: dict) -> str:
    rows = []
    for name, label in (("default", "`python train.py`"), ("quick", "`experiment=quick`")):
        d = b.get(name)
        if not d:
            continue
        for i, seed in enumerate(d["seeds"]):
            rows.append(
                [label, str(seed)]
                + [g(d[k]["values"][i]) for k in SEED_FIGURES]
                + [f"{d['train_time_s']['values'][i]:.1f}", f"{d['wall_s']['values'][i]:.1f}"]
                + [_value(d, "start_s", i, "{:.1f}"), _value(d, "gflop_per_s", i, "{:.0f}")]
            )
        rows.append(
            [label, "**mean ± sd**"]
            + [ms(d[k]) for k in SEED_FIGURES]
            + [ms(d["train_time_s"], 3), ms(d["wall_s"], 3)]
            + [ms(d[k], 2) if k in d else "–" for k in ("start_s", "gflop_per_s")]
        )
    header = ["run", "seed", "test mean", "median", "p99", "max", "corner", "val best", "train s", "wall s"]
    return _table([*header, "first step s", "GFLOP/s"], rows)


def _value(entry: dict, key: str, i: int, fmt: str) -> str:
    values = entry.get(key, {}).get("values", [])
    return fmt.format(values[i]) if i < len(values) else "–"


def conditions(b: dict) -> str:
    c = b.get("conditions")
    if not c:
        return "(not measured)"
    rows = []
    for case, entry in c.items():
        runs = entry["run"] if isinstance(entry["run"], list) else [entry["run"]]
        plains = entry["plain"] if isinstance(entry["plain"], list) else [entry["plain"]]
        rows.append(
            [
                case,
                ", ".join(f"{r['train_time_s']:.1f}" for r in runs),
                ", ".join(f"{p['train_s']:.1f}" for p in plains),
                ", ".join(f"{x:.2f}×" for x in entry["slowdown_vs_alone"]),
                ", ".join(f"{x:.2f}×" for x in entry["ratio_to_plain"]),
            ]
        )
    return _table(
        ["condition", "betaae train s", "plain loop train s", "betaae against alone", "betaae against plain"], rows
    )


def threads(b: dict) -> str:
    th = b.get("threads")
    if not th:
        return "(not measured)"
    rows = [[k, f"{v:.1f}"] for k, v in th["train_time_s"].items()]
    text = _table(["the default model, 60 epochs, alone", "train s (best of 2)"], rows)
    return text + f"\n\nFollowing the load against the fastest fixed count: {th['ratio_to_fastest_fixed']:.2f}×."


def loop(b: dict) -> str:
    rows = []
    for r in b.get("steps", []):
        rows.append(
            [
                str(r["batch_size"]),
                f"{r['plain_steps_per_s']:,.0f}",
                f"{r['lightning_steps_per_s']:,.0f}",
                f"{r['ratio']:.2f}×",
            ]
        )
    d = b.get("data")
    text = _table(["batch size", "plain loop steps/s", "Lightning loop steps/s", "ratio"], rows) if rows else ""
    if d:
        text += (
            f"\n\nBuilding {d['curves']:,} curves: the notebook's per-curve loop {d['loop_s']:.2f} s, the data "
            f"module {1000 * d['vectorized_s']:.1f} ms ({d['speedup']:,.0f}×)."
        )
    s = b.get("sweeps")
    if s:
        first, second = [k for k in s if k != "ratio"]
        text += (
            f"\n\nA 4-job sweep of the default model: {first} {s[first]:.1f} s, {second} {s[second]:.1f} s "
            f"({s['ratio']:.2f}×)."
        )
    return text or "(not measured)"


def test_set(b: dict) -> str:
    t = b.get("test_set")
    if not t:
        return "(not measured)"
    rows = []
    for key, label in (
        ("importance_sampled", "importance-sampled (a run's test set)"),
        ("uniform", "plain uniform draws"),
    ):
        e = t[key]
        rows.append(
            [
                label,
                g(e["mean"]),
                g(e["sd"], 2),
                f"{100 * e['sd'] / e['mean']:.1f}%",
                f"{g(min(e['values']))} – {g(max(e['values']))}",
            ]
        )
    return _table([f"{t['draws']} draws of {t['curves']:,} curves", "mean", "sd", "sd / mean", "range"], rows)


def inversion(b: dict) -> str:
    i = b.get("inversion")
    if not i:
        return "(not measured)"
    rows = [
        [m, seconds(i[m]["seconds"]), g(i[m]["median_residual"]), g(i[m]["median_abs_error_alpha"])]
        for m in ("adam", "nelder-mead")
    ]
    return _table([f"{i['targets']:,} targets, noise sd 0.05", "time", "median residual", "median abs error α"], rows)


def answers(b: dict) -> str:
    a = b.get("answers")
    if not a:
        return "(not measured)"
    return _table(["command", "seconds (best of 3, from the shell)"], [[k, f"{v:.2f}"] for k, v in a.items()])


def compiling(b: dict) -> str:
    c = b.get("compile")
    if not c:
        return "(not measured)"
    rows = [
        ["eager (`compile=false`)", f"{c['eager_train_s']:.1f}", "–", g(c["test_eager"])],
        ["compiled, empty Inductor cache (cold)", f"{c['cold_train_s']:.1f}", f"{c['compile_cold_s']:.1f}", "–"],
        ["compiled, cache warm", f"{c['cached_train_s']:.1f}", f"{c['compile_cached_s']:.1f}", g(c["test_compiled"])],
    ]
    header = [f"the default model, {c['epochs']} epochs ({c['steps']:,} steps)", "train s", "compile s", "test"]
    text = _table(header, rows)
    cold, cached = c["break_even_steps_cold"], c["break_even_steps_cached"]
    saving = c["saving_per_step_ms"]
    change = f"saves {saving:.3f} ms" if saving > 0 else f"is {-saving:.3f} ms slower"
    text += f"\n\nThe compiled step {change} a step ({100 * abs(c['saving_share']):.0f}% of the eager training)"
    if cold and cached:
        text += f"; compiling repays itself after {cold:,.0f} steps cold, {cached:,.0f} with the cache warm."
    else:
        text += ": compiling never repays itself here."
    return text


def startup(b: dict) -> str:
    s = b.get("startup")
    if not s:
        return "(not measured)"
    rows = [[f"`{name}`", f"{seconds_:.2f}"] for name, seconds_ in s.items()]
    return _table(["module (with what it imports)", "import s (best of 3)"], rows)


def machine(b: dict) -> str:
    text = f"Measured on {b['machine']}, torch {b['torch']}, {b['date']}."
    older: dict[str, list[str]] = {}
    for section, date in (b.get("dates") or {}).items():
        if date != b["date"] and section in b:
            older.setdefault(date, []).append(section)
    for date, sections in sorted(older.items()):
        text += f" Measured earlier, on {date}: {', '.join(sorted(sections))}."
    return text


BLOCKS = {
    "summary": summary,
    "seeds": seeds,
    "conditions": conditions,
    "threads": threads,
    "loop": loop,
    "test_set": test_set,
    "inversion": inversion,
    "answers": answers,
    "compile": compiling,
    "startup": startup,
    "machine": machine,
}


def render(path: Path) -> dict[str, str]:
    bench = json.loads(path.read_text())
    return {name: fn(bench) for name, fn in BLOCKS.items()}


def fill(text: str, blocks: dict[str, str]) -> str:
    """The text with every bench block replaced by its rendering."""

    def replace(match: re.Match) -> str:
        return f"<!-- bench:{match.group(1)} -->\n{blocks[match.group(1)]}\n<!-- /bench:{match.group(1)} -->"

    return re.sub(r"<!-- bench:(\w+) -->.*?<!-- /bench:\1 -->", replace, text, flags=re.S)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_json", type=Path)
    parser.add_argument("--write", type=Path, nargs="*", default=[])
    args = parser.parse_args(argv)
    blocks = render(args.bench_json)
    if not args.write:
        for name, text in blocks.items():
            print(f"<!-- bench:{name} -->\n{text}\n")
    for path in args.write:
        path.write_text(fill(path.read_text(), blocks))
        print(f"written: {path}")


if __name__ == "__main__":
    main()
