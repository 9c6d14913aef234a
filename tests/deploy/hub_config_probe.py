"""Run inside the hub pod's mounts (``MountedPod.run``) with the hub image's Python.

Loads the chart's /usr/local/etc/jupyterhub/jupyterhub_config.py the way
JupyterHub does (a traitlets config file, with hub.extraConfig executed inside
it), then, for every GPU profile, builds the notebook pod GPUKubeSpawner would
create once the availability service granted it. Prints one JSON document:

    {"config": {section: {trait: value}}, "unknown": {section: [names]},
     "pods": {slug: pod}, "namespace": "...", "errors": {slug: "traceback"}}
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from types import SimpleNamespace

from traitlets.config.loader import PyFileConfigLoader

CONFIG = "/usr/local/etc/jupyterhub/jupyterhub_config.py"


def load_config():
    loader = PyFileConfigLoader("jupyterhub_config.py", path="/usr/local/etc/jupyterhub")
    return loader.load_config()


def grant_for(profile) -> tuple[dict, str]:
    """What the availability service grants with a reservation of ``profile``."""
    if not profile.gpus:
        return {}, "nvidia.com/gpu"
    product, _, resource = profile.gpu_type.partition("/")
    return {"nvidia.com/gpu.product": product}, f"nvidia.com/{resource or 'gpu'}"


async def pods(c) -> tuple[dict, dict, str]:
    import kubernetes_asyncio
    from jupyterhub_mlops.profiles import GpuProfiles
    from jupyterhub_mlops.spawner import GPUKubeSpawner

    built, errors, namespace = {}, {}, ""
    for profile in GpuProfiles(config=c).configured():
        try:
            user = SimpleNamespace(name="alice", id=1, url="/user/alice/", groups=[], spawners={})
            hub = SimpleNamespace(
                public_host="", url="http://hub:8081/hub/", base_url="/hub/", api_url="http://hub:8081/hub/api"
            )
            spawner = GPUKubeSpawner(config=c, user=user, hub=hub)
            spawner.apply_overrides(spawner.profile_overrides(profile.to_json(), *grant_for(profile)))
            pod = await spawner.get_pod_manifest()
            built[profile.slug] = kubernetes_asyncio.client.ApiClient().sanitize_for_serialization(pod)
            namespace = spawner.namespace
        except Exception:  # reported per profile: the test names the one that broke
            errors[profile.slug] = traceback.format_exc()
    return built, errors, namespace


def main() -> int:
    from jupyterhub.app import JupyterHub
    from jupyterhub_mlops.availability.app import AvailabilityService
    from jupyterhub_mlops.profiles import GpuProfiles
    from jupyterhub_mlops.spawner import GPUKubeSpawner
    from jupyterhub_mlops.ssh.app import SSHGatewayApp

    c = load_config()
    classes = {
        "JupyterHub": JupyterHub,
        "KubeSpawner": GPUKubeSpawner,
        "Spawner": GPUKubeSpawner,
        "GPUKubeSpawner": GPUKubeSpawner,
        "GpuProfiles": GpuProfiles,
        "AvailabilityService": AvailabilityService,
        "SSHGatewayApp": SSHGatewayApp,
    }
    unknown = {
        name: sorted(k for k in c[name] if k not in cls.class_traits(config=True))
        for name, cls in classes.items()
        if name in c
    }
    built, errors, namespace = asyncio.run(pods(c))
    config = {name: {k: v for k, v in c[name].items()} for name in classes if name in c}
    json.dump(
        {"config": config, "unknown": unknown, "pods": built, "errors": errors, "namespace": namespace},
        sys.stdout,
        default=repr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
