"""The smoke tests can fail: break each one's premise and watch it fail.

Each case runs tests/cluster/test_smoke.py in a child pytest against a cluster
started with a broken premise (its own control plane, on its own ports, without the
job controllers the smoke tests do not use).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SMOKE = Path(__file__).with_name("test_smoke.py")

CPU_ONLY_FLEET = """
nodes:
  - {name: cpu, count: 2, cpu: "32", memory: 128Gi}
"""

HUGE_NODE_FLEET = """
nodes:
  - name: gpu-h100x16
    count: 1
    cpu: "224"
    memory: 2Ti
    gpu: {product: NVIDIA-H100-80GB-HBM3, count: 16, memory: 81559}
"""


def run_smoke(
    tmp_path: Path, test_name: str, fleet: str | None = None, authorization_mode: str | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if fleet is not None:
        (tmp_path / "fleet.yaml").write_text(fleet)
        env["MLOPS_TEST_FLEET"] = str(tmp_path / "fleet.yaml")
    if authorization_mode is not None:
        env["MLOPS_TEST_AUTHORIZATION_MODE"] = authorization_mode
    env.pop("MLOPS_TEST_RUN_DIR", None)
    env["MLOPS_TEST_BARE_CLUSTER"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=120", f"{SMOKE}::{test_name}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("test_name", "broken"),
    [
        ("test_two_gpu_pod_is_bound_to_a_gpu_node_with_room_and_runs", {"fleet": CPU_ONLY_FLEET}),
        ("test_pod_asking_more_gpus_than_any_node_has_stays_pending", {"fleet": HUGE_NODE_FLEET}),
        ("test_user_b_is_forbidden_from_user_a_namespace", {"authorization_mode": "AlwaysAllow"}),
    ],
)
def test_smoke_test_fails_when_its_premise_is_broken(tmp_path, test_name, broken):
    result = run_smoke(tmp_path, test_name, **broken)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 failed" in result.stdout, result.stdout[-3000:]
