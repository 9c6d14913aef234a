"""The Helm CLI (built from its Go module into the cache) and the Zero-to-JupyterHub chart.

The chart is third-party material that lives outside the repository (see the
PROVENANCE.md beside it): it is found, rendered and run, never copied here.

    chart = z2jh_chart()                                  # or ChartMissing, with the places tried
    objects = render(chart, "jhub", "jhub", [values, more_values])
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from .binaries import BUILD_SCRIPT, kubernetes_version
from .paths import CLUSTER_DIR, cache_dir

HELM_VERSION = "v3.22.0"
Z2JH_VERSION = "4.4.0"
CHART_ENV = "MLOPS_Z2JH_CHART"
"""Environment variable naming the chart's folder (the one holding Chart.yaml)."""
_CHART_IN_SHARED = Path("shared", "third_party", f"zero-to-jupyterhub-k8s-{Z2JH_VERSION}", "jupyterhub")


class ChartMissing(RuntimeError):
    """The Zero-to-JupyterHub chart is in none of the places looked at."""


def chart_candidates() -> list[Path]:
    """Where the chart is looked for, in order: $MLOPS_Z2JH_CHART, then
    ``shared/`` beside the repository (how a checkout next to the shared folder
    sees it), then the machine's ``/work/shared``."""
    repo = CLUSTER_DIR.parent
    places = [repo.parent / _CHART_IN_SHARED, Path("/work") / _CHART_IN_SHARED]
    if os.environ.get(CHART_ENV):
        places.insert(0, Path(os.environ[CHART_ENV]))
    return places


def z2jh_chart() -> Path:
    for place in chart_candidates():
        if (place / "Chart.yaml").is_file():
            return place.resolve()
    tried = ", ".join(str(p) for p in chart_candidates())
    raise ChartMissing(
        f"the Zero-to-JupyterHub {Z2JH_VERSION} chart was not found (looked in {tried}); "
        f"set {CHART_ENV} to the chart's folder (the one with Chart.yaml)"
    )


def helm_binary() -> Path:
    """The Helm CLI, built by cluster/build-binaries.sh the first time."""
    helm = cache_dir() / f"helm-{HELM_VERSION}" / "helm"
    if not os.access(helm, os.X_OK):
        env = dict(os.environ, HELM_VERSION=HELM_VERSION)
        result = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, stdout=sys.stderr)
        if result.returncode != 0 or not os.access(helm, os.X_OK):
            raise RuntimeError(f"building Helm {HELM_VERSION} failed ({BUILD_SCRIPT})")
    return helm


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    # Helm keeps caches and repositories under $HOME; nothing here needs them.
    return subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "HELM_CACHE_HOME": str(cache_dir() / "helm-home")},
    )


def _values_args(values_files: list[Path]) -> list[str]:
    # Rendered for the local cluster's release (Helm built without its release
    # ldflags would assume Kubernetes 1.20, which the chart refuses).
    return ["--kube-version", kubernetes_version(), *(arg for path in values_files for arg in ("--values", str(path)))]


def lint(chart: Path, values_files: list[Path]) -> subprocess.CompletedProcess:
    """``helm lint --strict`` (templates and the chart's values.schema.json)."""
    return helm("lint", "--strict", str(chart), *_values_args(values_files), check=False)


def render(chart: Path, release: str, namespace: str, values_files: list[Path]) -> list[dict]:
    """``helm template``: the objects an install would create, in the release namespace."""
    result = helm("template", release, str(chart), "--namespace", namespace, *_values_args(values_files), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"helm template failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
