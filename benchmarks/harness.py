"""What every benchmark module shares: figures, timing helpers, the cluster.

A benchmark module is ``benchmarks/bench_<topic>.py`` with a function

    def run(ctx: BenchContext) -> list[Figure]

Each ``Figure`` is one line of output: our number, the comparison measured in
the same run (when there is one), the ratio and the goal from the issue.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Figure:
    key: str
    """Key in benchmarks/results.json, e.g. ``availability.p50_ms``."""
    value: float
    unit: str
    goal: str = ""
    """The target from the issue, e.g. ``<= 10``."""
    comparison: float | None = None
    comparison_label: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.comparison is None or self.value == 0:
            return None
        return self.comparison / self.value

    def line(self) -> str:
        text = f"{self.key:40} {self.value:12.3f} {self.unit:6}"
        if self.comparison is not None:
            text += f"  vs {self.comparison_label}: {self.comparison:.3f} {self.unit}"
            if self.ratio is not None:
                text += f"  (x{self.ratio:.1f})"
        if self.goal:
            text += f"  goal {self.goal}"
        if self.note:
            text += f"  [{self.note}]"
        return text


@dataclass
class BenchContext:
    repo: Path
    artifacts: Path
    quick: bool = False
    """Smaller sizes, for a check that the benchmark still runs."""
    _control_plane: object = field(default=None, repr=False)

    def control_plane(self):
        """The local control plane, started on first use and shared by all modules."""
        if self._control_plane is None:
            from mlops_cluster import ControlPlane

            # Argo's real workflow-controller, as in the tests (jobs.workflow_e2e_s).
            self._control_plane = ControlPlane(self.artifacts / "cluster", argo_controller=True).start()
        return self._control_plane

    def close(self) -> None:
        if self._control_plane is not None:
            self._control_plane.stop()
            self._control_plane = None


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.ms``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.ms = (time.perf_counter() - self._start) * 1000
