# JupyterHub configuration of `make demo`. Started by demo/stack.py, which
# writes the per-run values (ports, password, paths) to the JSON file named by
# MLOPS_DEMO_SETTINGS and gives the Hub the hub identity's kubeconfig in
# KUBECONFIG. Everything here is what a real deployment would configure, except
# the pod annotation and namespace label that ask the development pod runner to
# run the notebook and job pods as local processes (no container runtime here).
import json
import os
from pathlib import Path

from mlops_cluster.pod_command import RUN_LOCALLY_ANNOTATION

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file
demo = json.loads(Path(os.environ["MLOPS_DEMO_SETTINGS"]).read_text())

# --- Hub and proxy -----------------------------------------------------------
c.JupyterHub.bind_url = demo["public_url"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = demo["hub_port"]
# Notebook servers run on 127.128.x.y pod IPs of this machine and call the Hub here.
c.JupyterHub.hub_connect_url = f"http://127.0.0.1:{demo['hub_port']}"
# The demo runs configurable-http-proxy itself, as a child that dies with it;
# the Hub only talks to its API (token in CONFIGPROXY_AUTH_TOKEN).
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = demo["proxy_api_url"]
c.JupyterHub.db_url = f"sqlite:///{demo['hub_dir']}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{demo['hub_dir']}/jupyterhub_cookie_secret"
c.JupyterHub.cleanup_servers = True  # Ctrl-C deletes the users' pods too

# --- Who may log in ------------------------------------------------------------
# Any user name with the demo password printed in the banner.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = demo["password"]
c.Authenticator.allow_all = True

# --- Notebook servers: the suite's spawner ---------------------------------------
c.JupyterHub.spawner_class = "jupyterhub_mlops.spawner.GPUKubeSpawner"
c.KubeSpawner.namespace = demo["namespace"]
c.KubeSpawner.image = "quay.io/jupyter/base-notebook:latest"
c.KubeSpawner.cmd = [demo["singleuser"]]
c.KubeSpawner.args = ["--allow-root"]  # everything runs as root on the demo machine
c.KubeSpawner.default_url = "/lab"
c.KubeSpawner.extra_annotations = {RUN_LOCALLY_ANNOTATION: "true"}
# A notebook server's first start on a busy laptop can take a while.
c.KubeSpawner.start_timeout = 180
c.KubeSpawner.http_timeout = 120

# --- GPU availability: the service that owns the inventory and reservations ---------
from jupyterhub_mlops.availability import configure_hub  # noqa: E402
from jupyterhub_mlops.profiles import GpuProfiles  # noqa: F401,E402 - configured below

configure_hub(
    c,
    port=demo["availability_port"],
    # The service reads this very file too, where the token is not needed.
    spawner_token=os.environ.get("GPU_SPAWNER_TOKEN", ""),
    config_file=demo["config_file"],
    kubeconfig=os.environ.get("KUBECONFIG", ""),
    python=demo["python"],
)
c.GPUKubeSpawner.availability_token = os.environ.get("GPU_SPAWNER_TOKEN", "")
# The service reads this file too: give it the settings file and our packages.
for service in c.JupyterHub.services:
    if service["name"] == "gpu-availability":
        service["environment"].update(
            {"MLOPS_DEMO_SETTINGS": os.environ["MLOPS_DEMO_SETTINGS"], "PYTHONPATH": demo["pythonpath"]}
        )
# Auto-derived profiles: 1, 2, 4, 8 GPUs of each type present in the fleet,
# plus a CPU-only server.
c.GpuProfiles.auto_profiles = True

# --- SSH gateway: ssh -p <ssh_port> <user>@<ip> reaches the user's own server ---------
c.JupyterHub.services.append(
    {
        "name": "ssh",
        "url": f"http://127.0.0.1:{demo['ssh_api_port']}",
        "command": [
            demo["python"],
            "-m",
            "jupyterhub_mlops.ssh",
            f"--ip={demo['ssh_ip']}",
            f"--port={demo['ssh_port']}",
            "--storage=file",
            f"--data-dir={demo['ssh_data_dir']}",
            "--SSHGatewayApp.pod_user=root",  # the demo's pod processes run as root
            f"--SSHGatewayApp.public_hub_url={demo['public_url']}hub/home",
        ],
        "environment": {"KUBECONFIG": os.environ.get("KUBECONFIG", ""), "PYTHONPATH": demo["pythonpath"]},
    }
)
c.JupyterHub.load_roles.append({"name": "ssh-gateway", "services": ["ssh"], "scopes": ["users:activity", "read:users"]})
for role in c.JupyterHub.load_roles:
    if role["name"] in ("user", "server"):  # the sidebar manages keys with the server's token
        role["scopes"].append("access:services!service=ssh")
c.GPUKubeSpawner.ssh_gateway_key_dir = demo["ssh_data_dir"]
# The single-user image's entrypoint starts sshd beside the notebook server; the
# pod runner runs the same script. Outside a container sshd must listen on the
# pod's own IP (Kubernetes expands $(POD_IP) from the fieldRef below).
c.KubeSpawner.cmd = [demo["sshd_entrypoint"], demo["singleuser"]]
c.KubeSpawner.environment = {
    "POD_IP": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    "MLOPS_SSHD_LISTEN": "$(POD_IP)",
    # The notebook side asks the availability service with the user's own token
    # (the sidebar's GPU panel, %mlops gpus, the fit check before a job is submitted).
    "MLOPS_AVAILABILITY_URL": f"http://127.0.0.1:{demo['availability_port']}/services/gpu-availability/api/v1/snapshot",
    "MLOPS_SSH_HOST": demo["ssh_ip"],
    "MLOPS_SSH_PORT": str(demo["ssh_port"]),
    # The sidebar's SSH panel registers keys with the gateway, through the proxy,
    # with the server's own token (its role may access the ssh service, above).
    "MLOPS_SSH_KEYS_URL": f"{demo['public_url']}services/ssh/api/keys",
}

# --- Per-user namespaces: each user's server and jobs run as their own service account ---
c.GPUKubeSpawner.provision_user_namespaces = True
c.GPUKubeSpawner.enable_user_namespaces = True
# Every pod in a user's namespace runs as a local process (the pod runner plays
# the kubelet): the pods the Training Operator creates for that user's PyTorchJobs,
# and those Argo's workflow-controller creates for the steps of their workflows.
c.GPUKubeSpawner.user_namespace_labels = {RUN_LOCALLY_ANNOTATION: "true"}
