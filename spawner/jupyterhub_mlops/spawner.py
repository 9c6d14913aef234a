"""GPUKubeSpawner: KubeSpawner for a cluster of shared GPU servers.

The spawn page lists GPU profiles with live numbers from the availability
service (``availability/``), which owns the GPU inventory and the reservation
book; this spawner, running in the hub, asks it over HTTP:

- ``options_form``: the rows for this user (free/total, servers that fit, why
  disabled), rendered by ``spawn_form``;
- ``options_from_form`` / ``start``: the choice is validated against fresh
  rows (tampered forms get a 400 and no pod), then reserved — the service
  grants or refuses atomically, so concurrent spawns cannot double-book —
  and the profile is applied to the pod;
- ``stop`` or a failed start releases the reservation. The reservation id is
  in the spawner's persisted state; held GPUs come from the pods themselves,
  and a pod still waiting for a node keeps its GPUs set aside in the
  availability service (rebuilt from the watch), so a restart of the hub or
  of the service keeps everything.

Pod building is split into small methods (``profile_overrides``,
``apply_overrides``, ``pod_labels``) so other parts of the suite (per-user
namespaces, SSH) can add theirs in a few lines.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from kubernetes_asyncio.client.models import V1ContainerPort
from kubespawner import KubeSpawner
from mlops_contract.labels import OWNER_LABEL, owner_labels
from mlops_contract.namespaces import NAMESPACE_PREFIX, user_namespace
from mlops_contract.queueing import LOCAL_QUEUE, is_gated
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Bool, Dict, Float, List, Unicode, default, observe

from . import metrics
from .availability.app import SERVICE_NAME
from .inventory.accounting import is_gpu_resource
from .network_policies import user_namespace_policies
from .profiles import GpuProfiles
from .progress_streams import merge_streams
from .provisioning import (
    SERVICE_ACCOUNT,
    WORKFLOW_SERVICE_ACCOUNT,
    ProvisioningError,
    ensure_user_namespace,
)
from .queue_position import QueuePlace, queue_html_message, queue_labels, queue_message, read_place
from .queues import local_queues, queue_group
from .spawn_form import STATUS_OF_REASON, FormError, render_form, validate_choice, wants_queue
from .ssh.gateway_public_key import read_from_dir, read_from_secret
from .ssh.pod_side import ssh_pod_additions


# ------------------------------------------------------------ pure builders
def set_in_config(configurable, name: str) -> bool:
    """Whether the operator's config sets ``name`` for ``configurable`` (under the
    section of its class or of any class it inherits the trait from)."""
    return any(name in dict.get(configurable.config, cls.__name__, {}) for cls in type(configurable).mro())


def shm_volume(size_limit: str) -> tuple[dict, dict]:
    """A memory-backed ``/dev/shm`` (PyTorch DataLoader workers share tensors
    through it; the container runtime's default is 64 MiB)."""
    volume: dict[str, Any] = {"name": "dshm", "emptyDir": {"medium": "Memory"}}
    if size_limit:
        volume["emptyDir"]["sizeLimit"] = size_limit
    return volume, {"name": "dshm", "mountPath": "/dev/shm"}


def as_list(items: list | dict) -> list:
    """A KubeSpawner list trait's items. Traits such as ``volumes`` and
    ``tolerations`` may be dicts too (Zero-to-JupyterHub sets ``volumes`` and
    ``volume_mounts`` so, for mergeable values): their values, ordered by key,
    as KubeSpawner puts them in the pod."""
    if isinstance(items, dict):
        return [items[key] for key in sorted(items)]
    return list(items)


def merge_tolerations(base: list, extra: list) -> list:
    """``base`` plus the tolerations of ``extra`` not already in it."""
    out = [dict(t) for t in base]
    for tol in extra:
        if dict(tol) not in out:
            out.append(dict(tol))
    return out


def profile_overrides(profile: dict, node_selector: dict, gpu_resource: str, *, base: dict, shm_size: str) -> dict:
    """Trait values of KubeSpawner for a granted profile.

    ``base`` holds the spawner's configured values (tolerations, node_selector,
    volumes, volume_mounts, extra_resource_limits, extra_resource_guarantees,
    image). GPUs go in limits and guarantees (extended resources must be
    equal), CPU and memory are guaranteed and limited at the profile's size,
    the node selector pins the GPU product.
    """
    cpu = profile["cpu_milli"] / 1000
    gpus = {gpu_resource: str(profile["gpus"])} if profile["gpus"] else {}
    volume, mount = shm_volume(shm_size or str(profile["memory_bytes"] // 2))
    return {
        "image": profile["image"] or base["image"],
        "cpu_guarantee": cpu,
        "cpu_limit": cpu,
        "mem_guarantee": profile["memory_bytes"],
        "mem_limit": profile["memory_bytes"],
        "extra_resource_limits": {**base["extra_resource_limits"], **gpus},
        "extra_resource_guarantees": {**base["extra_resource_guarantees"], **gpus},
        "node_selector": {**base["node_selector"], **node_selector},
        "tolerations": merge_tolerations(base["tolerations"], profile["tolerations"]),
        "volumes": [*base["volumes"], volume],
        "volume_mounts": [*base["volume_mounts"], mount],
    }


class GPUKubeSpawner(KubeSpawner):
    """A KubeSpawner whose users pick GPU profiles with live availability."""

    gpu_reservation: str | None = None
    """Id of the reservation of the spawn in flight (persisted in the state)."""
    gpu_profile: str | None = None
    """Slug of the profile this server was started with (persisted in the state)."""

    availability_url = Unicode(
        f"http://127.0.0.1:10101/services/{SERVICE_NAME}/",
        help="""
        URL of the availability service as the hub reaches it (direct, not
        through the proxy), ending in the service prefix. Set by
        jupyterhub_mlops.availability.configure_hub.""",
    ).tag(config=True)

    availability_token = Unicode(
        help="""
        JupyterHub API token of the service principal the availability service
        trusts to reserve GPUs (``gpu-spawner``). A secret: load it from the
        environment."""
    ).tag(config=True)

    availability_public_prefix = Unicode(
        help="""
        Path of the availability service as the browser reaches it through the
        proxy; default: <hub base url>/services/gpu-availability/."""
    ).tag(config=True)

    availability_timeout = Float(
        10,
        help="""
        Seconds to wait for the availability service before refusing a spawn
        (with a message) rather than starting blind.""",
    ).tag(config=True)

    gpu_tolerations = List(
        Dict(),
        help="""
        Deprecated: set GpuProfiles.gpu_tolerations instead, the one setting that
        decides both where the availability service counts GPUs as free and
        which tolerations every notebook pod gets. A value set here is moved
        there, with a warning.""",
    ).tag(config=True)

    owner_label = Unicode(
        help="""
        Retired: the owner label is always jupyterhub-mlops/user, shared with
        the notebook side's jobs and the availability service (mlops_contract);
        a value set here is ignored, with a warning.""",
    ).tag(config=True)

    shm_size = Unicode(
        "",
        help="""
        Size limit of the memory-backed /dev/shm of notebook pods (a Kubernetes
        quantity); empty: half of the profile's memory. It counts against the
        pod's memory limit.""",
    ).tag(config=True)

    ssh_gateway_secret = Unicode(
        "",
        help="""
        The SSH gateway's Secret as namespace/name (the gateway's
        storage_namespace and keys_secret_name, storage='kubernetes'). The
        spawner reads the gateway's public key from it and authorizes it in the
        notebook container's sshd (started by the single-user image's
        entrypoint). Leave empty, with ssh_gateway_key_dir empty too, for
        servers without SSH.""",
    ).tag(config=True)

    ssh_gateway_key_dir = Unicode(
        "",
        help="""
        The SSH gateway's data_dir when it runs with storage='file' on the hub's
        machine (development and single-machine installs). Used when
        ssh_gateway_secret is empty.""",
    ).tag(config=True)

    provision_user_namespaces = Bool(
        False,
        help="""
        Give each user a namespace of their own (<user_namespace_prefix><user>)
        with a service account bound to the ClusterRole jupyterhub-mlops:user
        there only, created on the first spawn. The notebook pod runs in that
        namespace as that account, with its token mounted, so the jobs the
        notebook submits (PyTorchJobs, Katib sweeps, Argo workflows) run under
        the user's own identity and the API server's RBAC keeps users apart.
        Set enable_user_namespaces too (KubeSpawner then watches pods in every
        namespace); user_namespace_labels are put on the namespace.
        KubeSpawner's user_namespace_template has no effect then (a warning
        says so if it is set): the name is always <prefix><user>.""",
    ).tag(config=True)

    user_namespace_prefix = Unicode(
        NAMESPACE_PREFIX,
        help="""Prefix of per-user namespaces (see provision_user_namespaces).""",
    ).tag(config=True)

    user_network_policies = Bool(
        True,
        help="""
        With provision_user_namespaces: create the NetworkPolicies of each user
        namespace with it (jupyterhub_mlops.network_policies): only the hub pod
        (the SSH gateway) reaches a notebook's sshd, only the hub and the proxy
        its server, a job's pods admit their own namespace, and no pod reaches
        the cloud metadata address. The hub and proxy pods are named by the
        namespace KubeSpawner.namespace names (the release namespace under
        Zero-to-JupyterHub) and the app and release labels of common_labels.""",
    ).tag(config=True)

    queue_timeout = Float(
        24 * 3600,
        help="""
        With GpuProfiles.queue_with_kueue: seconds a spawn that chose to wait in
        line may wait for Kueue to admit it (it replaces start_timeout for that
        spawn). The progress page shows its place meanwhile; its Stop Server
        button leaves the line.""",
    ).tag(config=True)

    queue_poll_interval = Float(
        3,
        help="""Seconds between two reads of a queued spawn's place in line.""",
    ).tag(config=True)

    katib_namespace = Unicode(
        "kubeflow",
        help="""
        The namespace Katib's controller runs in. With user_network_policies, each
        user namespace admits that namespace's Katib controller pods
        (katib.kubeflow.org/component=controller) to the per-sweep suggestion
        service (TCP 6789); without it no sweep gets past its first trial.""",
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.release_namespace: str = self.namespace  # type: ignore[has-type]  # KubeSpawner's trait
        """The configured namespace: the hub's own (Zero-to-JupyterHub sets it so)."""
        if self.provision_user_namespaces:
            # Decided here, not at start: a restarted hub must find running servers.
            self.namespace = user_namespace(self.user.name, self.user_namespace_prefix)
            self.service_account = SERVICE_ACCOUNT
            self.automount_service_account_token = True
        for warning in self.ignored_settings():
            self.log.warning(warning)

    @observe("user_options")
    def _timeout_of_queued_spawns(self, change) -> None:
        # JupyterHub reads start_timeout right after it sets user_options and before
        # start() runs: a spawn that waits in line gets its own, longer, timeout here.
        self._configured_start_timeout = getattr(self, "_configured_start_timeout", self.start_timeout)  # type: ignore[has-type]
        self.start_timeout = self.queue_timeout if self.wants_queue(change.new) else self._configured_start_timeout

    def wants_queue(self, options: Mapping | None) -> bool:
        return wants_queue(options or {}) and self.gpu_profiles().queue_with_kueue

    def gpu_profiles(self) -> GpuProfiles:
        """The ``GpuProfiles`` section of the hub's config, which the availability
        service reads too: its gpu_tolerations say where GPU pods may go."""
        return GpuProfiles(parent=self)

    def ignored_settings(self) -> list[str]:
        """Why each setting the operator made that has no effect here is ignored."""
        ignored = []
        if self.provision_user_namespaces and set_in_config(self, "user_namespace_template"):
            ignored.append(
                "user_namespace_template is ignored: with provision_user_namespaces each "
                f"user's namespace is <user_namespace_prefix><user> ({self.namespace} for "
                f"{self.user.name}); remove user_namespace_template and set "
                "user_namespace_prefix instead."
            )
        if set_in_config(self, "owner_label"):
            ignored.append(
                f"GPUKubeSpawner.owner_label is ignored: the owner label is always {OWNER_LABEL}, "
                "the key the availability service counts GPUs by and the notebook side puts "
                "on job pods; remove the setting."
            )
        return ignored

    @default("availability_public_prefix")
    def _default_public_prefix(self):
        base = self.hub.base_url[: -len("hub/")] if self.hub.base_url.endswith("hub/") else "/"
        return f"{base}services/{SERVICE_NAME}/"

    @default("options_form")
    def _default_gpu_form(self):
        return GPUKubeSpawner._gpu_options_form

    # -------------------------------------------------------------- service
    async def _availability(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = HTTPRequest(
            self.availability_url + path,
            method=method,
            headers={
                "Authorization": f"token {self.availability_token}",
                "Content-Type": "application/json",
            },
            body=None if body is None else json.dumps(body),
            request_timeout=self.availability_timeout,
            connect_timeout=self.availability_timeout,
        )
        try:
            resp = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            self.log.error("availability service unreachable at %s: %s", self.availability_url, exc)
            raise web.HTTPError(
                503,
                "The GPU availability service is not answering; try again in a minute or ask your operator.",
            ) from None
        if resp.code == 599:
            raise web.HTTPError(
                503,
                "The GPU availability service is not answering; try again in a minute or ask your operator.",
            )
        try:
            data = json.loads(resp.body) if resp.body else {}
        except ValueError:  # not the service answering (e.g. a proxy's error page)
            self.log.error("availability service answered %s with non-JSON", resp.code)
            raise web.HTTPError(503, "The GPU availability service is not answering; try again in a minute.") from None
        return resp.code, data

    async def availability_view(self) -> dict:
        """This user's snapshot document (see availability.state.Availability.view_for)."""
        query = urlencode([("user", self.user.name)] + [("group", g.name) for g in self.user.groups])
        code, doc = await self._availability("GET", f"api/v1/snapshot?{query}")
        if code != 200:
            self.log.error("availability service answered %s: %s", code, doc)
            raise web.HTTPError(
                503,
                "The GPU availability service refused the hub's request; ask your operator to check its configuration.",
            )
        return doc

    # ----------------------------------------------------------------- form
    @staticmethod
    async def _gpu_options_form(spawner: GPUKubeSpawner) -> str:
        doc = await spawner.availability_view()
        prefix = spawner.availability_public_prefix
        return render_form(doc, prefix + "api/v1/events", prefix + "api/v1/snapshot")

    async def options_from_form(self, formdata: dict) -> dict:
        """Validate the posted form against fresh rows; 400/403/409 with a reason."""
        row = self._checked_row(formdata, (await self.availability_view())["profiles"])
        options = {"profile": row["slug"], "gpus": row["gpus"]}
        if self.wants_queue(formdata):
            options["queue"] = True
        return options

    def _checked_row(self, options: dict, rows: list) -> Mapping:
        try:
            return validate_choice(options, rows, may_queue=self.gpu_profiles().queue_with_kueue)
        except FormError as refusal:
            metrics.SPAWN_REFUSALS.labels(refusal.code).inc()
            raise web.HTTPError(refusal.status, "%s", str(refusal)) from None

    # ---------------------------------------------------------------- spawn
    async def start(self):
        # JupyterHub reuses this object when the user starts the server again:
        # overrides are computed from the operator's values, never stacked.
        self.restore_configured_values()
        if self.provision_user_namespaces:
            await self.provision_namespace()
        self.apply_overrides(await self.reserve_gpus())
        try:
            self.apply_overrides(await self.ssh_overrides())
            return await super().start()
        except BaseException:
            await self.release_gpus()
            raise

    async def load_user_options(self):
        """The choice was validated, reserved and applied in ``start``."""

    async def reserve_gpus(self) -> dict:
        """Validate ``user_options`` (the REST API skips the form), reserve the
        profile and return the trait overrides for it."""
        options = dict(self.user_options or {})
        if not options.get("profile"):
            rows = (await self.availability_view())["profiles"]
            default = next((r for r in rows if r.get("default")), rows[0] if rows else None)
            options = {"profile": default["slug"]} if default else options
        row = self._checked_row(options, (await self.availability_view())["profiles"])
        body = {
            "user": self.user.name,
            "groups": [g.name for g in self.user.groups],
            "profile": row["slug"],
            "pod": f"{self.namespace}/{self.pod_name}",
            "queue": self.wants_queue(options),
        }
        code, granted = await self._availability("POST", "api/v1/reservations", body)
        if code == 409:
            status = STATUS_OF_REASON.get(granted.get("code", ""), 409)
            raise web.HTTPError(status, "%s", granted.get("error", "No room for this profile now."))
        if code != 201:
            self.log.error("reservation refused with %s: %s", code, granted)
            raise web.HTTPError(503, "The GPU availability service could not reserve GPUs; try again in a minute.")
        self.gpu_reservation = granted["id"] or None  # a place in line books nothing
        self.gpu_profile = row["slug"]
        self.queued_for = (granted["profile"]["gpus"], granted["profile"]["gpu_type"]) if granted["queued"] else None
        if granted["queued"]:
            self.log.info("%s waits in line for %s", self._log_name, row["slug"])
        else:
            self.log.info("reserved %s for %s (%s)", row["slug"], self._log_name, granted["id"])
        return self.profile_overrides(granted["profile"], granted["node_selector"], granted["gpu_resource"])

    def profile_overrides(self, profile: dict, node_selector: dict, gpu_resource: str) -> dict:
        base = {
            "image": self.image,
            "tolerations": merge_tolerations(as_list(self.tolerations), self.gpu_profiles().gpu_tolerations),
            "node_selector": dict(self.node_selector),
            "volumes": as_list(self.volumes),
            "volume_mounts": as_list(self.volume_mounts),
            "extra_resource_limits": dict(self.extra_resource_limits),
            "extra_resource_guarantees": dict(self.extra_resource_guarantees),
        }
        return profile_overrides(profile, node_selector, gpu_resource, base=base, shm_size=self.shm_size)

    async def provision_namespace(self) -> None:
        """The user's namespace, service account and role binding (idempotent)."""
        try:
            await ensure_user_namespace(
                self.api.api_client,
                self.user.name,
                prefix=self.user_namespace_prefix,
                labels=dict(self.user_namespace_labels),
                network_policies=self.network_policies(),
                local_queues=self.local_queues(),
            )
        except ProvisioningError as exc:
            self.log.error("provisioning %s: %s", self._log_name, exc)
            raise web.HTTPError(
                503, "Your namespace could not be prepared; ask your operator (the hub's log says why)."
            ) from None

    def local_queues(self) -> list[dict]:
        """The user namespace's Kueue LocalQueues (none unless queueing is on)."""
        if not self.gpu_profiles().queue_with_kueue:
            return []
        return local_queues(self.namespace, self.line_group(), owner_labels(self.user.name))

    def line_group(self) -> str:
        """The group whose ClusterQueues this user's LocalQueues point at."""
        return queue_group([g.name for g in self.user.groups], self.gpu_profiles().group_gpu_quotas)

    def network_policies(self) -> list[dict]:
        if not self.user_network_policies:
            return []
        release = {key: self.common_labels[key] for key in ("app", "release") if key in self.common_labels}
        return user_namespace_policies(
            self.namespace,
            self.release_namespace,
            release,
            labels=owner_labels(self.user.name),
            katib_namespace=self.katib_namespace,
        )

    async def ssh_overrides(self) -> dict:
        """Trait values that make the notebook's sshd trust the SSH gateway.

        A missing or unreadable gateway key is logged and the server starts
        without SSH: a notebook without SSH beats no notebook.
        """
        if self.ssh_gateway_secret:
            namespace, _, name = self.ssh_gateway_secret.partition("/")
            key = await read_from_secret(self.api, namespace, name, self.log)
        elif self.ssh_gateway_key_dir:
            key = read_from_dir(self.ssh_gateway_key_dir, self.log)
        else:
            return {}
        if not key:
            return {}
        extra = ssh_pod_additions(key)
        self._ssh_ports = extra["ports"]
        return {
            "environment": {**self.environment, **{e["name"]: e["value"] for e in extra["env"]}},
            "extra_annotations": {**self.extra_annotations, **extra["annotations"]},
        }

    def apply_overrides(self, overrides: dict) -> None:
        for name, value in overrides.items():
            self._configured_values.setdefault(name, getattr(self, name))
            setattr(self, name, value)

    def restore_configured_values(self) -> None:
        """Undo ``apply_overrides`` (the traits as the operator configured them)."""
        for name, value in self._configured_values.items():
            setattr(self, name, value)
        self._configured_values.clear()

    @property
    def _configured_values(self) -> dict:
        return self.__dict__.setdefault("_mlops_configured_values", {})

    async def release_gpus(self) -> None:
        """Give back the reservation, if any (idempotent)."""
        reservation, self.gpu_reservation = self.gpu_reservation, None
        if not reservation:
            return
        try:
            code, _ = await self._availability("DELETE", f"api/v1/reservations/{reservation}")
        except web.HTTPError:
            # The service is down; the reservation expires on its own.
            self.log.warning("could not release reservation %s; it will expire", reservation)
            return
        if code not in (204, 404):
            self.log.warning("releasing reservation %s answered %s", reservation, code)

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            await self.release_gpus()

    # ------------------------------------------------------------------ pod
    def pod_labels(self) -> dict:
        """Labels added to the pod on top of KubeSpawner's."""
        return owner_labels(self.user.name)

    def get_env(self):
        env = super().get_env()
        # The jobs API labels its job pods with the same owner label, so the GPUs
        # a user's jobs hold count against their cap like their notebook's. Only
        # the value is news to it (the key is the contract's); ``key=value`` is
        # kept because notebook images of earlier releases read it so.
        env["MLOPS_OWNER_LABEL"] = f"{OWNER_LABEL}={self.pod_labels()[OWNER_LABEL]}"
        # Job pods that ask for GPUs tolerate what notebook pods do: where GPUs are counted.
        env["MLOPS_GPU_TOLERATIONS"] = json.dumps(self.gpu_profiles().gpu_tolerations)
        # Workflow steps run as the account provisioning gave Argo's executor role.
        env["MLOPS_WORKFLOW_SERVICE_ACCOUNT"] = WORKFLOW_SERVICE_ACCOUNT
        if self.gpu_profiles().queue_with_kueue:
            # GPU jobs, workflow steps and trials then wait in the namespace's Kueue line.
            env["MLOPS_KUEUE_QUEUE"] = LOCAL_QUEUE
        return env

    _ssh_ports: list = []

    async def get_pod_manifest(self):
        pod = await super().get_pod_manifest()
        pod.metadata.labels = {**(pod.metadata.labels or {}), **self.pod_labels()}
        if self.gpu_profiles().queue_with_kueue and any(
            is_gpu_resource(r) for r in (pod.spec.containers[0].resources.limits or {})
        ):
            # Every GPU notebook goes through Kueue, queued or not: Kueue counts only
            # what it admitted, so a notebook beside the line would be GPUs it lends twice.
            pod.metadata.labels.update(queue_labels())
        notebook = pod.spec.containers[0]
        notebook.ports = [
            *(notebook.ports or []),
            *(
                V1ContainerPort(name=p["name"], container_port=p["containerPort"], protocol=p["protocol"])
                for p in self._ssh_ports
            ),
        ]
        return pod

    # ------------------------------------------------------------- progress
    queued_for: tuple[int, str] | None = None
    """(GPUs, GPU type) of a spawn that waits in Kueue's line."""

    async def progress(self):
        """KubeSpawner's events, and while Kueue holds the pod, its place in line."""
        if not self.gpu_profiles().queue_with_kueue:
            async for event in super().progress():
                yield event
            return
        async for event in merge_streams(super().progress(), self.queue_progress()):
            yield event

    async def queue_progress(self):
        """A message each time the pod's place in line changes, until Kueue admits it."""
        key = f"{self.namespace}/{self.pod_name}"
        said = None
        while self._start_future is None or not self._start_future.done():
            pod = self.pod_reflector.pods.get(key) if self.pod_reflector else None
            if pod is not None and is_gated(pod):
                place = await self._read_place(pod)
                gpus, gpu_type = self.queued_for or (0, "GPU")
                text = queue_message(place, self.line_group(), gpus, gpu_type)
                if text != said:
                    said = text
                    yield {"message": text, "html_message": queue_html_message(text)}
            elif said is not None and pod is not None:
                yield {"message": "Kueue admitted the server: its GPUs are free; starting it."}
                return
            await asyncio.sleep(self.queue_poll_interval)

    async def _read_place(self, pod: Mapping):
        try:
            return await read_place(self.api.api_client, self.namespace, pod["metadata"]["uid"])
        except Exception as exc:  # the line is shown again on the next poll
            self.log.warning("reading the place in line of %s: %s", self._log_name, exc)
            return QueuePlace(None, "")

    # ---------------------------------------------------------------- state
    def get_state(self):
        state = super().get_state()
        if self.gpu_reservation:
            state["gpu_reservation"] = self.gpu_reservation
        if self.gpu_profile:
            state["gpu_profile"] = self.gpu_profile
        return state

    def load_state(self, state):
        super().load_state(state)
        self.gpu_reservation = state.get("gpu_reservation")
        self.gpu_profile = state.get("gpu_profile")

    def clear_state(self):
        super().clear_state()
        self.gpu_reservation = None
        self.gpu_profile = None
