"""``jupyterhub-mlops-ssh``: the SSH gateway as a JupyterHub service.

Run it as a Hub-managed service (the Hub passes ``JUPYTERHUB_API_TOKEN``,
``JUPYTERHUB_API_URL``, ``JUPYTERHUB_SERVICE_URL`` and
``JUPYTERHUB_SERVICE_PREFIX``) or as an external service with those variables
set. ``jupyterhub-mlops-ssh --generate-config`` writes a commented config file.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from pathlib import Path
from textwrap import dedent
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth
from mlops_contract.ssh import LOGIN_SEPARATOR
from traitlets import Bool, CaselessStrEnum, Float, Integer, List, Unicode, default
from traitlets.config import Application

from .api import make_web_app
from .audit import audit_log
from .gateway import Gateway
from .gateway_keys import GATEWAY_KEY, HOST_KEY, load_file_keys, load_secret_keys
from .hub import ActivityReporter
from .keystore import ConfigMapKeyStore, FileKeyStore, KeyStore
from .names import DEFAULT_LOGIN_PATTERN, DEFAULT_MAX_LOGIN_LENGTH
from .ratelimit import FailureLimiter
from .routing import PodLocator


class SSHGatewayApp(Application):
    name = "jupyterhub-mlops-ssh"
    description = dedent("""
        SSH gateway for JupyterHub: ssh, scp, sftp, rsync, port forwarding, VS Code
        Remote-SSH and ssh -J into each user's running notebook server.
    """)

    aliases = {
        "config": "SSHGatewayApp.config_file",
        "ip": "SSHGatewayApp.ip",
        "port": "SSHGatewayApp.port",
        "storage": "SSHGatewayApp.storage",
        "data-dir": "SSHGatewayApp.data_dir",
        "log-level": "Application.log_level",
    }
    flags = {
        "generate-config": (
            {"SSHGatewayApp": {"generate_config": True}},
            "Write a commented config file to --config and exit.",
        ),
    }

    config_file = Unicode(
        "jupyterhub_mlops_ssh_config.py",
        help="The config file to load (and to write with --generate-config).",
    ).tag(config=True)
    generate_config = Bool(False, help="Write the default config file and exit.").tag(config=True)

    ip = Unicode("0.0.0.0", help="Address the SSH port listens on.").tag(config=True)
    port = Integer(2222, help="The SSH port users connect to.").tag(config=True)

    api_url = Unicode(
        help=dedent("""
        Where the HTTP service (key registration, /metrics) listens, e.g.
        http://0.0.0.0:8077. Defaults to $JUPYTERHUB_SERVICE_URL, which the Hub
        sets for a managed service.
    """)
    ).tag(config=True)

    @default("api_url")
    def _api_url(self):
        return os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8077")

    service_prefix = Unicode(
        help=dedent("""
        URL prefix of the HTTP routes. Defaults to $JUPYTERHUB_SERVICE_PREFIX
        (/services/<name>/ behind the Hub's proxy).
    """)
    ).tag(config=True)

    @default("service_prefix")
    def _service_prefix(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/ssh/")

    public_hub_url = Unicode(
        "",
        help=dedent("""
        The Hub's public URL, quoted in the message users get when their server
        is not running (e.g. https://hub.example.org/hub/home).
    """),
    ).tag(config=True)

    storage = CaselessStrEnum(
        ["file", "kubernetes"],
        default_value="kubernetes",
        help=dedent("""
        Where the gateway keeps what must survive restarts: its host key, the
        key it uses to log in to notebook pods, and users' registered public
        keys. 'kubernetes': one Secret (keys) and one ConfigMap per user (public
        keys) in storage_namespace. 'file': files under data_dir (development,
        or a gateway with a persistent volume).
    """),
    ).tag(config=True)

    data_dir = Unicode(
        "jupyterhub-mlops-ssh",
        help=dedent("""
        Directory for storage='file': host and gateway keys, and
        registered_keys.json. Keep it private (mode 0700).
    """),
    ).tag(config=True)

    storage_namespace = Unicode(
        help=dedent("""
        Namespace of the gateway's Secret and users' key ConfigMaps for
        storage='kubernetes'. Defaults to the namespace the gateway pod runs in.
        Mount users' ConfigMaps in their pods from the same namespace.
    """)
    ).tag(config=True)

    @default("storage_namespace")
    def _storage_namespace(self):
        path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        return path.read_text().strip() if path.exists() else "default"

    keys_secret_name = Unicode(
        "jupyterhub-mlops-ssh-gateway",
        help=dedent("""
        Name of the Secret holding the host key and the gateway key
        (storage='kubernetes').
    """),
    ).tag(config=True)

    kubeconfig = Unicode(
        "",
        help=dedent("""
        Kubeconfig file for the Kubernetes API. Empty: $KUBECONFIG if set, else
        the in-cluster service account.
    """),
    ).tag(config=True)

    pod_namespace = Unicode(
        "",
        help=dedent("""
        Namespace of notebook pods; empty to search all namespaces (needed with
        KubeSpawner's enable_user_namespaces). The gateway needs list on pods there.
    """),
    ).tag(config=True)

    pod_user = Unicode(
        "jovyan",
        help=dedent("""
        The user the sshd in notebook pods runs as (the notebook's user, NB_USER).
        An unprivileged sshd accepts logins only as itself.
    """),
    ).tag(config=True)

    pod_sshd_port = Integer(2222, help="Port of the sshd inside notebook pods.").tag(config=True)

    pod_aliases = List(
        Unicode(),
        default_value=["notebook"],
        help=dedent("""
        Host names that mean "my own server" in forwarding requests, e.g.
        ssh -L 8888:notebook:8888. Anything else is refused, so nothing but the
        user's pod is reachable.
    """),
    ).tag(config=True)

    local_forwarding = Bool(
        True,
        help=dedent("""
        Allow ssh -L to any port of the user's own pod. When False, only
        ProxyJump (ssh -J) to the pod's sshd is allowed.
    """),
    ).tag(config=True)

    server_separator = Unicode(
        LOGIN_SEPARATOR,
        help=dedent(f"""
        Separator between user and server name in logins: alice{LOGIN_SEPARATOR}gpu means
        alice's named server 'gpu'. The sidebar and %mlops ssh print logins with
        '{LOGIN_SEPARATOR}' (mlops_contract.ssh): change it only if users type
        their logins themselves.
    """),
    ).tag(config=True)

    login_pattern = Unicode(
        DEFAULT_LOGIN_PATTERN,
        help=dedent("""
        Regular expression a whole login name must match. The default allows
        lowercase ASCII letters, digits and . _ @ + - ; widen it if your
        authenticator produces other user names.
    """),
    ).tag(config=True)

    max_login_length = Integer(DEFAULT_MAX_LOGIN_LENGTH, help="Longest accepted login name.").tag(config=True)

    login_timeout = Float(30, help="Seconds a client has to log in.").tag(config=True)
    idle_timeout = Float(
        3600,
        help=dedent("""
        Seconds without traffic after which a connection is closed. Traffic in
        either direction counts.
    """),
    ).tag(config=True)
    connect_timeout = Float(10, help="Seconds to reach a notebook pod.").tag(config=True)
    activity_interval = Float(
        60,
        help=dedent("""
        Seconds between posts of SSH activity to the Hub
        (POST /hub/api/users/<name>/activity), so the idle culler sees SSH use.
        The service's role needs the users:activity scope.
    """),
    ).tag(config=True)

    max_failures_per_source = Integer(
        30,
        help=dedent("""
        Failed logins from one address within failure_window that block that
        address for the rest of the window.
    """),
    ).tag(config=True)
    max_failures_per_user = Integer(
        10,
        help=dedent("""
        Failed logins for one user name within failure_window that block token
        logins for that user (key logins stay open, keys cannot be guessed).
    """),
    ).tag(config=True)
    failure_window = Float(60, help="Window in seconds for counting failed logins.").tag(config=True)

    encryption_algs = List(
        Unicode(),
        default_value=["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"],
        help=dedent("""
        Ciphers the gateway accepts. The client's preference decides among
        them, so offering only AES-GCM (one hardware-accelerated call per
        packet in the relay) keeps OpenSSH from picking chacha20-poly1305,
        which costs the gateway's Python relay far more CPU. Every OpenSSH
        since 6.2, PuTTY 0.76+ and VS Code support AES-GCM; add
        "chacha20-poly1305@openssh.com" or "aes128-ctr" for older clients.
    """),
    ).tag(config=True)

    audit_log_file = Unicode(
        "",
        help=dedent("""
        File to append the JSON audit lines to (one per login and per channel),
        in addition to stderr. Empty: stderr only.
    """),
    ).tag(config=True)

    authenticate_prometheus = Bool(
        True,
        help=dedent("""
        Require a Hub token with access to this service for /metrics.
    """),
    ).tag(config=True)

    def initialize(self, argv=None):
        super().initialize(argv)
        if self.generate_config:
            return
        if os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
        elif self.config_file != self.__class__.config_file.default_value:
            raise SystemExit(f"config file {self.config_file} does not exist (write one with --generate-config)")

    asyncssh_log_level = CaselessStrEnum(
        ["DEBUG", "INFO", "WARNING", "ERROR"],
        default_value="WARNING",
        help="Log level of the asyncssh library (INFO logs every connection).",
    ).tag(config=True)

    def _setup_logging(self) -> None:
        # The gateway's modules and asyncssh log to stderr like the application.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"))
        for name, level in (("jupyterhub_mlops", self.log_level), ("asyncssh", self.asyncssh_log_level)):
            logger = logging.getLogger(name)
            logger.setLevel(level)  # type: ignore[arg-type]  # both traits hold level names
            logger.propagate = False
            logger.addHandler(handler)
        self._setup_audit_log()

    def _setup_audit_log(self) -> None:
        audit_log.setLevel(logging.INFO)
        audit_log.propagate = False
        handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
        if self.audit_log_file:
            handlers.append(logging.FileHandler(self.audit_log_file))
        for h in handlers:
            h.setFormatter(logging.Formatter("%(message)s"))
            audit_log.addHandler(h)

    async def _core_v1(self):
        from kubernetes_asyncio import client, config

        if self.kubeconfig or os.environ.get("KUBECONFIG"):
            api_client = await config.new_client_from_config(config_file=self.kubeconfig or os.environ["KUBECONFIG"])
        else:
            config.load_incluster_config()
            api_client = client.ApiClient()
        return client.CoreV1Api(api_client)

    async def build_gateway(self) -> Gateway:
        core_v1 = await self._core_v1()
        if self.storage == "file":
            keys = load_file_keys(Path(self.data_dir))
            key_store: KeyStore = FileKeyStore(Path(self.data_dir) / "registered_keys.json")
        else:
            keys = await load_secret_keys(core_v1, self.storage_namespace, self.keys_secret_name)
            key_store = ConfigMapKeyStore(core_v1, self.storage_namespace)
        self.hub_auth = HubAuth(parent=self)
        api_token = self.hub_auth.api_token
        activity = ActivityReporter(self.hub_auth.api_url, api_token) if api_token else None
        return Gateway(
            host_key=keys[HOST_KEY],
            gateway_key=keys[GATEWAY_KEY],
            key_store=key_store,
            hub_auth=self.hub_auth,
            locator=PodLocator(core_v1, self.pod_namespace, hub_url=self.public_hub_url),
            activity=activity,
            ip=self.ip,
            port=self.port,
            pod_user=self.pod_user,
            pod_sshd_port=self.pod_sshd_port,
            pod_aliases=tuple(self.pod_aliases),
            local_forwarding=self.local_forwarding,
            server_separator=self.server_separator,
            login_pattern=self.login_pattern,
            max_login_length=self.max_login_length,
            login_timeout=self.login_timeout,
            idle_timeout=self.idle_timeout,
            connect_timeout=self.connect_timeout,
            activity_interval=self.activity_interval,
            source_limiter=FailureLimiter(self.max_failures_per_source, self.failure_window),
            user_limiter=FailureLimiter(self.max_failures_per_user, self.failure_window),
            encryption_algs=tuple(self.encryption_algs),
        )

    async def run(self) -> None:
        self._setup_logging()
        gateway = await self.build_gateway()
        await gateway.start()
        url = urlparse(self.api_url)
        web_app = make_web_app(self.service_prefix, self.hub_auth, gateway.key_store, self.authenticate_prometheus)
        http_server = web_app.listen(url.port or 80, url.hostname or "0.0.0.0")
        self.log.info(
            "SSH gateway ready: ssh on %s:%s, HTTP on %s%s",
            self.ip,
            gateway.bound_port,
            self.api_url,
            self.service_prefix,
        )
        # Everything loaded so far (the Kubernetes client's models, tornado,
        # asyncssh) lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall every session's
        # keystrokes for tens of milliseconds at a time.
        gc.freeze()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        http_server.stop()
        await gateway.stop()

    def start(self):
        if self.generate_config:
            self.write_default_config()
            return
        asyncio.run(self.run())

    def write_default_config(self) -> None:
        Path(self.config_file).write_text(self.generate_config_file())
        print(f"wrote {self.config_file}")


main = SSHGatewayApp.launch_instance
