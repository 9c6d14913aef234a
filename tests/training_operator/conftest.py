"""Researchers whose PyTorchJobs the session's real Training Operator runs.

The session's ``control_plane`` runs the operator (tests/conftest.py) and
``job_runner`` plays the kubelet for its replicas in namespaces labelled to run
locally, as carol's and dave's are. Nothing writes a PyTorchJob's status here
but the operator, and nothing writes a pod's status but KWOK (IP, Running) and
the pod runner (what the process did).
"""

from __future__ import annotations

from pathlib import Path

import pytest_asyncio

from tests.jobs_support import make_user, runs_locally


async def researcher(control_plane, core_v1, tmp_dir: Path, name: str):
    user = await make_user(control_plane, core_v1, tmp_dir, name)
    runs_locally(core_v1, user.namespace)
    return user


@pytest_asyncio.fixture(scope="session")
async def carol(control_plane, core_v1, job_runner, tmp_path_factory):
    return await researcher(control_plane, core_v1, tmp_path_factory.mktemp("carol"), "carol")


@pytest_asyncio.fixture(scope="session")
async def dave(control_plane, core_v1, job_runner, tmp_path_factory):
    return await researcher(control_plane, core_v1, tmp_path_factory.mktemp("dave"), "dave")
