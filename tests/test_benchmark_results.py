"""RESULTS.md is re-rendered by every benchmark run; the notes written by hand below its
table (figures that are no single value: build times, runs under load) must survive that."""

from __future__ import annotations

from benchmarks.__main__ import NOTES_HEADING, render_results_md

FIGURE = {
    "value": 2.0,
    "unit": "ms",
    "goal": "<= 10",
    "comparison": 8.0,
    "comparison_label": "naive",
    "note": "median",
    "command": "python -m benchmarks availability",
    "measured": "2026-12-01",
}


def test_a_rerender_keeps_the_hand_written_notes_and_replaces_the_table(tmp_path):
    results = tmp_path / "RESULTS.md"
    notes = f"{NOTES_HEADING}\n\n### SSH\n\nfour runs under load: 0.55 / 0.60\n"
    results.write_text(f"# Benchmark results\n\n| `old.figure` | 1 s |\n\n{notes}")

    render_results_md({"availability.p50_ms": FIGURE}, "x86_64", {"ssh": "OSError: boom"}, path=results)

    text = results.read_text()
    assert text.endswith(notes)
    assert "`old.figure`" not in text
    assert "| `availability.p50_ms` | 2.0 ms | 8.0 ms (naive) | x4.0 |" in text
    assert text.index("- `ssh`: OSError: boom") < text.index(NOTES_HEADING)


def test_a_first_render_has_no_notes_section(tmp_path):
    results = tmp_path / "RESULTS.md"
    render_results_md({"availability.p50_ms": FIGURE}, "x86_64", path=results)
    assert NOTES_HEADING not in results.read_text()
