"""Start-up time of the local control plane with cached binaries (goal <= 30 s)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlops_cluster import ControlPlane

from .harness import BenchContext, Figure, median


def run(ctx: BenchContext) -> list[Figure]:
    times = []
    for _ in range(1 if ctx.quick else 3):
        with tempfile.TemporaryDirectory() as run_dir:
            cp = ControlPlane(Path(run_dir)).start()
            times.append(cp.startup_seconds)
            cp.stop()
    return [
        Figure(
            "cluster.start_s",
            median(times),
            "s",
            goal="<= 30",
            note=f"median of {len(times)}: etcd, apiserver, controller-manager, scheduler, KWOK, CRDs, 7 nodes Ready",
        )
    ]
