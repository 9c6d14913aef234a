"""Pods that KWOK finishes after a given time (``cluster/kwok/stages.yaml``).

The stage ``pod-complete-after-duration`` reads these annotations: a pod that
carries ``run_for(seconds)`` succeeds that long after it starts running. The
names live here once; a test holds the stage file to them.
"""

from __future__ import annotations

SIMULATE_ANNOTATION = "jupyterhub-mlops.local/simulate"
FOR_DURATION = "for-duration"
DURATION_ANNOTATION = "jupyterhub-mlops.local/simulate-duration"


def run_for(seconds: float) -> dict[str, str]:
    """The annotations of a pod that runs ``seconds`` (to the millisecond) and then succeeds."""
    if seconds < 0:
        raise ValueError(f"a pod cannot run for {seconds} s")
    return {SIMULATE_ANNOTATION: FOR_DURATION, DURATION_ANNOTATION: f"{round(seconds * 1000)}ms"}
