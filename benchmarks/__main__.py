"""Run every benchmark module and write results.json and RESULTS.md.

python -m benchmarks                 # all of them
python -m benchmarks ssh jobs        # only bench_ssh.py and bench_jobs.py
python -m benchmarks --quick         # smaller sizes
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import platform
import sys
import traceback
from pathlib import Path

from .harness import BenchContext, Figure

HERE = Path(__file__).resolve().parent


def discover(selected: list[str]) -> list[str]:
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    unknown = set(selected) - set(names)
    if unknown:
        raise SystemExit(f"no such benchmark: {', '.join(sorted(unknown))}; known: {', '.join(names)}")
    return [n for n in names if not selected or n in selected]


def write_results(figures: list[Figure], failures: dict[str, str], command: str) -> None:
    """Merge this run's figures into results.json (each figure keeps the command and time
    that produced it, so topics run separately stay honest) and re-render RESULTS.md."""
    results_path = HERE / "results.json"
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    values = dict(previous.get("figures", {}))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    for f in figures:
        values[f.key] = {
            "value": round(f.value, 4),
            "unit": f.unit,
            "goal": f.goal,
            "comparison": None if f.comparison is None else round(f.comparison, 4),
            "comparison_label": f.comparison_label,
            "note": f.note,
            "command": command,
            "measured": stamp,
        }
    results_path.write_text(json.dumps({"machine": machine, "figures": values}, indent=2, sort_keys=True) + "\n")
    render_results_md(values, machine, failures)


# RESULTS.md is generated, except for the notes below this heading: measurements that are no
# single figure (build times, runs under load, where the CPU goes), written by hand and kept
# as they are by every re-render.
NOTES_HEADING = "## Notes (written by hand, kept by `make bench`)"


def hand_written_notes(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    start = text.find(NOTES_HEADING)
    return [] if start < 0 else ["", *text[start:].rstrip("\n").split("\n")]


def render_results_md(
    values: dict[str, dict], machine: str, failures: dict[str, str] | None = None, path: Path = HERE / "RESULTS.md"
) -> None:
    notes = hand_written_notes(path)
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine} (2 cores, shared with other work while measuring).",
        "Each line: our figure, the comparison measured side by side in the same run, the ratio,",
        "the goal from the issue, and the command that produced it (`make bench` reruns them all).",
        "Raw values: `benchmarks/results.json`.",
        "",
        "| key | ours | comparison | ratio | goal | note | measured with |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, v in sorted(values.items()):
        comp = "" if v["comparison"] is None else f"{v['comparison']} {v['unit']} ({v['comparison_label']})"
        ratio = ""
        if v["comparison"] is not None and v["value"]:
            ratio = f"x{v['comparison'] / v['value']:.1f}"
        origin = f"`{v.get('command', 'make bench')}`, {v.get('measured', 'earlier run')}"
        cells = [f"`{key}`", f"{v['value']} {v['unit']}", comp, ratio, v["goal"], v["note"], origin]
        lines.append("| " + " | ".join(cells) + " |")
    if failures:
        lines += ["", "## Benchmarks that failed in the last run", ""]
        lines += [f"- `{name}`: {why}" for name, why in failures.items()]
    path.write_text("\n".join(lines + notes) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("only", nargs="*", help="benchmark names (bench_<name>.py)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args(argv)
    command = (
        "make bench"
        if not args.only and not args.quick
        else ("python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv))
    )
    ctx = BenchContext(repo=HERE.parent, artifacts=HERE.parent / "test-artifacts" / "bench", quick=args.quick)
    ctx.artifacts.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    failures: dict[str, str] = {}
    try:
        for name in discover(args.only):
            print(f"== {name}", flush=True)
            try:
                module = importlib.import_module(f"benchmarks.bench_{name}")
                for figure in module.run(ctx):
                    print(figure.line(), flush=True)
                    figures.append(figure)
            except Exception as exc:  # one broken benchmark must not hide the others
                traceback.print_exc()
                failures[name] = f"{type(exc).__name__}: {exc}"
    finally:
        ctx.close()
    write_results(figures, failures, command)
    print(f"wrote {HERE / 'results.json'} and {HERE / 'RESULTS.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
