"""Operator-facing configuration of the jobs REST API (``c.MlopsJobs.*``).

Every trait left empty falls back to the environment variable named in its
help, then to the notebook pod's mounted service account, which is what a
deployment wants: the notebook server acts as the user's own identity.
"""

from __future__ import annotations

from textwrap import dedent

from traitlets import Float, Unicode
from traitlets.config import Configurable

from .jobs.client import JobsClient
from .jobs.settings import ENVIRONMENT, JobsSettings


class MlopsJobs(Configurable):
    kubeconfig = Unicode(
        "",
        help=dedent("""
        Kubeconfig (with a bearer token) to act with instead of the pod's service
        account. For development and tests; leave empty in a deployment.
        Environment: MLOPS_KUBECONFIG."""),
    ).tag(config=True)
    kube_server = Unicode(
        "",
        help=dedent("""
        API server URL to use with kube_token_file instead of the pod's service
        account (e.g. https://127.0.0.1:6443). Environment: MLOPS_KUBE_SERVER."""),
    ).tag(config=True)
    kube_token_file = Unicode(
        "",
        help=dedent("""
        File holding the bearer token for kube_server; re-read when it changes.
        Environment: MLOPS_KUBE_TOKEN_FILE."""),
    ).tag(config=True)
    kube_ca_file = Unicode(
        "",
        help=dedent("""
        CA bundle that signed kube_server's certificate. Environment: MLOPS_KUBE_CA_FILE."""),
    ).tag(config=True)
    namespace = Unicode(
        "",
        help=dedent("""
        Namespace the user's jobs live in. Default: the service account's own
        namespace (the per-user namespace GPUKubeSpawner provisions).
        Environment: MLOPS_NAMESPACE."""),
    ).tag(config=True)
    availability_url = Unicode(
        "",
        help=dedent("""
        URL of the hub's GPU availability snapshot (the availability service,
        e.g. http://proxy-public/services/gpu-availability/api/v1/snapshot).
        Called with the user's JupyterHub token before GPU jobs are submitted and
        proxied at /mlops/api/v1/gpus. Empty: no GPU check (jobs are submitted
        with a warning). Environment: MLOPS_AVAILABILITY_URL."""),
    ).tag(config=True)
    argo_server_url = Unicode(
        "",
        help=dedent("""
        Argo Server URL (e.g. https://argo-server.argo:2746). When set, workflows
        are submitted through it (Hera's WorkflowsService) with the user's
        service-account token instead of as Workflow resources through the
        Kubernetes API; run the Argo Server with --auth-mode=client so that the
        API server's RBAC applies to that token. Reading, listing and deleting
        still use the Kubernetes API. Empty: the Kubernetes API only.
        Environment: MLOPS_ARGO_SERVER."""),
    ).tag(config=True)
    argo_server_ca_file = Unicode(
        "",
        help=dedent("""
        CA bundle that signed an https argo_server_url's certificate. Empty: the
        system's CAs. Environment: MLOPS_ARGO_SERVER_CA_FILE."""),
    ).tag(config=True)
    shared_volume_claim = Unicode(
        "",
        help=dedent("""
        PersistentVolumeClaim (ReadWriteMany, in the user's namespace; usually the
        home volume) used to ship code snapshots larger than a ConfigMap can hold
        (about 1 MiB compressed). Empty: larger snapshots are refused with advice.
        Environment: MLOPS_SHARED_VOLUME_CLAIM."""),
    ).tag(config=True)
    shared_volume_path = Unicode(
        "",
        help=dedent("""
        Where shared_volume_claim is mounted in the notebook server (default: the
        home directory). Environment: MLOPS_SHARED_VOLUME_PATH."""),
    ).tag(config=True)
    request_timeout = Float(
        10.0,
        help=dedent("""
        Seconds any single Kubernetes API call may take before the REST API
        answers 503."""),
    ).tag(config=True)

    def settings(self) -> JobsSettings:
        """The environment, read once, with the configured traits laid over it."""
        return JobsSettings.from_environment().overridden(**{name: getattr(self, name) for name in _TRAITS})

    def build_client(self) -> JobsClient:
        """The server's client: lists served from one shared watch per kind."""
        client = JobsClient.from_settings(self.settings())
        client.kube.timeout = self.request_timeout
        client.start_cache()
        return client


_TRAITS = [name for name in ENVIRONMENT if MlopsJobs.class_traits(config=True).get(name)]
"""The settings an operator may also give as ``c.MlopsJobs.<name>``."""
