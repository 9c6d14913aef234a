"""One setting, GpuProfiles.gpu_tolerations, decides both where the availability service
counts GPUs as free and which tolerations notebook and job pods get; the former
GPUKubeSpawner.gpu_tolerations moves over with a warning."""

from __future__ import annotations

import logging

from jupyterhub_mlops.availability.app import AvailabilityService
from jupyterhub_mlops.profiles import GpuProfiles
from mlops_contract.placement import GPU_TOLERATION
from traitlets.config import Config

POOL = {"key": "example.org/gpu-pool", "operator": "Exists", "effect": "NoSchedule"}
POOL_NODE = {
    "metadata": {"name": "pool-1", "labels": {"nvidia.com/gpu.product": "A100"}},
    "spec": {"taints": [{"key": "example.org/gpu-pool", "value": "a100", "effect": "NoSchedule"}]},
    "status": {
        "allocatable": {"nvidia.com/gpu": "8", "cpu": "64", "memory": "512Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


def free_gpus(config: Config) -> int:
    """Free A100s as the availability service configured by ``config`` counts them."""
    inventory = AvailabilityService(config=config).inventory()
    inventory.apply_node("ADDED", POOL_NODE)
    inventory.set_in_sync("nodes", True)
    inventory.set_in_sync("pods", True)
    return inventory.snapshot().gpu_types().get("A100", {}).get("free", 0)


def pool_config(section: str) -> Config:
    c = Config()
    c[section].gpu_tolerations = [POOL]
    return c


def test_the_one_setting_decides_where_gpus_count():
    assert free_gpus(Config()) == 0  # the default tolerates only the GPU Operator's taint
    assert free_gpus(pool_config("GpuProfiles")) == 8
    assert GpuProfiles().gpu_tolerations == [GPU_TOLERATION]


def test_the_former_spawner_setting_moves_over_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert GpuProfiles(config=pool_config("GPUKubeSpawner")).gpu_tolerations == [POOL]
    assert "GPUKubeSpawner.gpu_tolerations is deprecated" in caplog.text
    # The availability service reads the same file: it counts where the hub sends pods.
    assert free_gpus(pool_config("GPUKubeSpawner")) == 8
    appended = Config()
    appended.GPUKubeSpawner.gpu_tolerations.append(POOL)
    assert GpuProfiles(config=appended).gpu_tolerations == [GPU_TOLERATION, POOL]


def test_the_new_name_wins_and_the_old_one_is_reported_ignored(caplog):
    both = pool_config("GpuProfiles")
    both.GPUKubeSpawner.gpu_tolerations = [GPU_TOLERATION]
    with caplog.at_level(logging.WARNING):
        assert GpuProfiles(config=both).gpu_tolerations == [POOL]
    assert "GPUKubeSpawner.gpu_tolerations is ignored" in caplog.text
    caplog.clear()
    GpuProfiles(config=pool_config("GpuProfiles"))
    assert "gpu_tolerations" not in caplog.text
