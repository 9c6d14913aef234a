"""A virtualenv with the Python packages of the hub image, for running the hub as it runs there.

The hub image (images/hub/Dockerfile) is Zero-to-JupyterHub's k8s-hub image
plus the suite; images/hub/constraints.txt pins every package it ships that
the hub side uses (JupyterHub, KubeSpawner, the authenticators, pycurl...).
This virtualenv installs exactly those pins, in the build cache keyed by the
file's hash, so the tests run the chart's hub with the versions a deployment
runs, beside the development virtualenv (which has what pip resolves today).
The suite itself is not installed there: the hub gets the checkout's
``spawner/`` and ``contract/`` on its PYTHONPATH, so every checkout tests its own code.

A second virtualenv, ``NEXT_MAJOR``, keeps every pin but JupyterHub's and
KubeSpawner's, which pip resolves within JupyterHub 6: the hub side must run
on the JupyterHub a chart upgrade will bring as well as on the one deployed.

    python -m mlops_cluster.hub_image     # create both (scripts/bootstrap.sh does)
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import venv
from pathlib import Path

from .paths import CLUSTER_DIR, cache_dir

CONSTRAINTS = CLUSTER_DIR.parent / "images" / "hub" / "constraints.txt"
IMAGE = "image"
"""The hub image's packages, exactly."""
NEXT_MAJOR = "jupyterhub-6"
"""The same with JupyterHub and KubeSpawner as pip resolves them within JupyterHub 6."""
VARIANTS = (IMAGE, NEXT_MAJOR)
_UNPINNED = {NEXT_MAJOR: {"jupyterhub": "jupyterhub>=6,<7", "jupyterhub-kubespawner": "jupyterhub-kubespawner>=7,<8"}}


def requirements(variant: str = IMAGE) -> str:
    lines = []
    for line in CONSTRAINTS.read_text().splitlines():
        name = line.split("==", 1)[0].strip()
        lines.append(_UNPINNED.get(variant, {}).get(name, line))
    return "\n".join(lines) + "\n"


def venv_dir(variant: str = IMAGE) -> Path:
    digest = hashlib.sha256(requirements(variant).encode()).hexdigest()[:12]
    suffix = "" if variant == IMAGE else f"-{variant}"
    return cache_dir() / f"hub-image-venv{suffix}-{digest}"


def python(variant: str = IMAGE) -> Path:
    """The virtualenv's interpreter, created the first time (a minute or two)."""
    target = venv_dir(variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Checkouts on one machine share the cache: one creates, the others wait for it.
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            _create(target, variant)
    return target / "bin" / "python"


def _create(target: Path, variant: str) -> None:
    # An interrupted creation is started over (scripts name their interpreter by
    # absolute path, so the folder cannot be built elsewhere and moved).
    subprocess.run(["rm", "-rf", str(target)], check=True)
    venv.create(target, with_pip=True)
    wanted = target / "requirements.txt"
    wanted.write_text(requirements(variant))
    subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(wanted)], check=True, stdout=sys.stderr
    )
    (target / ".complete").write_text("")


def bin_dir(variant: str = IMAGE) -> Path:
    return python(variant).parent


if __name__ == "__main__":
    for name in VARIANTS:
        print(python(name))
