"""Upstream files read from the Go module cache, where the controllers' modules live.

The local cluster installs what the upstream projects publish (CRDs, RBAC,
webhook configurations) from their Go module zips, never from copies in this
repository: the version that builds the controller is the version whose
manifests are applied.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import yaml


@functools.cache
def module_dir(module: str, version: str) -> Path:
    """The extracted module in the Go module cache (downloaded the first time)."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"go mod download {module}@{version} failed: {(result.stdout + result.stderr).strip()}")
    return Path(json.loads(result.stdout)["Dir"])


def load_yaml(path: Path) -> list[dict]:
    """The documents of a YAML file (empty ones left out)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
