"""The one distribution: its wheel carries both Python packages, the prebuilt
JupyterLab extension and the config that enables the server extension, and an
install of that wheel — alone, in an environment of its own — is what makes
`jupyter server extension list` and `jupyter labextension list` show both enabled.

The wheel is built from a copy of the files git tracks (a clean clone, minus
.git), so a file the build needs but the repository forgot fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
LABEXT = "share/jupyter/labextensions/jupyter-mlops"
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/jupyter_mlops.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean_copy(destination: Path) -> Path:
    """The files of the working tree that git tracks or would track, copied."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for relative in filter(None, listed):
        source = REPO / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("packaging")
    source = clean_copy(work / "source")
    env = {
        **os.environ,
        # jlpm/npm and jupyter-builder come from this environment; npm may use
        # its cache before the registry.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "npm_config_prefer_offline": "true",
    }
    # No build isolation: the build requirements (hatchling, the JupyterLab
    # builder hook, jupyterlab) are part of this environment already.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = (work / "dist").glob("jupyterhub_mlops-*.whl")
    return built


def data_files(wheel: Path) -> dict[str, str]:
    """Files the wheel installs under the prefix, by path relative to it."""
    names = zipfile.ZipFile(wheel).namelist()
    found = {}
    for name in names:
        match = re.match(r"[^/]+\.data/data/(.+)", name)
        if match:
            found[match.group(1)] = name
    return found


def test_wheel_carries_both_packages_the_labextension_and_the_server_config(wheel):
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert "jupyterhub_mlops/__init__.py" in names
    assert "jupyterhub_mlops/spawner.py" in names
    assert "jupyter_mlops/__init__.py" in names
    assert "jupyter_mlops/routes.py" in names

    data = data_files(wheel)
    package_json = json.loads(archive.read(data[f"{LABEXT}/package.json"]))
    assert package_json["name"] == "jupyter-mlops"
    # The prebuilt extension's entry point, as `jupyter labextension build` writes it.
    assert package_json["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
    remote_entries = [p for p in data if re.fullmatch(rf"{LABEXT}/static/remoteEntry\.\w+\.js", p)]
    assert [f"{LABEXT}/{package_json['jupyterlab']['_build']['load']}"] == remote_entries

    install = json.loads(archive.read(data[f"{LABEXT}/install.json"]))
    assert install["packageName"] == "jupyterhub-mlops"

    server_config = json.loads(archive.read(data[SERVER_CONFIG]))
    assert server_config["ServerApp"]["jpserver_extensions"] == {"jupyter_mlops": True}


def isolated_python(prefix: Path) -> Path:
    """A virtualenv at ``prefix`` that imports the suite's dependencies from
    this environment but sees none of its data or config folders.

    The dependencies' folder is added as a plain path (``.pth`` line), so the
    ``.pth`` files inside it — among them the editable install of this
    repository — are not processed: jupyter_mlops comes only from ``prefix``.
    """
    venv.create(prefix, with_pip=False)
    python = prefix / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site_packages, "_suite_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def jupyter(python: Path, home: Path, *args: str) -> str:
    """Run a jupyter command with ``python``; its whole output, colours removed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "PYTHON"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    result = subprocess.run([python, "-m", *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return ANSI.sub("", result.stdout + result.stderr)


def test_installed_wheel_enables_the_server_extension_and_the_labextension(wheel, tmp_path):
    python = isolated_python(tmp_path / "venv")
    # The commands behind `jupyter server extension list` and `jupyter labextension list`.
    server_list = ("jupyter_server", "extension", "list")
    lab_list = ("jupyterlab.labextensions", "list")

    # The premise: before the install, this environment knows neither.
    assert "jupyter_mlops" not in jupyter(python, tmp_path, *server_list)
    assert "jupyter-mlops" not in jupyter(python, tmp_path, *lab_list)

    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )

    server_out = jupyter(python, tmp_path, *server_list)
    config_dir = tmp_path / "venv" / "etc" / "jupyter"
    assert f"Config dir: {config_dir}" in server_out, server_out
    section = server_out.split(f"Config dir: {config_dir}", 1)[1].split("Config dir:", 1)[0]
    assert re.search(r"jupyter_mlops\s+enabled", section), server_out
    assert re.search(r"jupyter_mlops \S+ OK", section), server_out

    lab_out = jupyter(python, tmp_path, *lab_list)
    labextensions = tmp_path / "venv" / "share" / "jupyter" / "labextensions"
    assert str(labextensions) in lab_out, lab_out
    section = lab_out.split(str(labextensions), 1)[1]
    enabled = r"jupyter-mlops v\S+ enabled\s+OK \(python, jupyterhub-mlops\)"
    assert re.search(enabled, section), lab_out

    imported = subprocess.run(
        [
            python,
            "-c",
            "import jupyter_mlops, jupyterhub_mlops; print(jupyter_mlops.__file__); print(jupyterhub_mlops.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.split()
    assert all(path.startswith(str(tmp_path / "venv")) for path in imported), imported
