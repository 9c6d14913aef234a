"""A virtualenv with the Python packages of the hub image, for running the hub as it runs there.

The hub image (images/hub/Dockerfile) is Zero-to-JupyterHub's k8s-hub image
plus the suite; images/hub/constraints.txt pins every package it ships that
the hub side uses (JupyterHub, KubeSpawner, the authenticators, pycurl...).
This virtualenv installs exactly those pins, in the build cache keyed by the
file's hash, so the tests run the chart's hub with the versions a deployment
runs, beside the development virtualenv (which has what pip resolves today).
The suite itself is not installed there: the hub gets the checkout's
``spawner/`` on its PYTHONPATH, so every checkout tests its own code.

    python -m mlops_cluster.hub_image     # create it (scripts/bootstrap.sh does)
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

from .paths import CLUSTER_DIR, cache_dir

CONSTRAINTS = CLUSTER_DIR.parent / "images" / "hub" / "constraints.txt"


def venv_dir() -> Path:
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:12]
    return cache_dir() / f"hub-image-venv-{digest}"


def python() -> Path:
    """The virtualenv's interpreter, created the first time (a minute or two)."""
    target = venv_dir()
    complete = target / ".complete"
    if not complete.exists():
        # An interrupted creation is started over (scripts name their interpreter
        # by absolute path, so the folder cannot be built elsewhere and moved).
        subprocess.run(["rm", "-rf", str(target)], check=True)
        venv.create(target, with_pip=True)
        subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q",
                        "-r", str(CONSTRAINTS)], check=True, stdout=sys.stderr)
        complete.write_text(CONSTRAINTS.read_text())
    return target / "bin" / "python"


def bin_dir() -> Path:
    return python().parent


if __name__ == "__main__":
    print(python())
