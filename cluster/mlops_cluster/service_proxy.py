"""Development only: Service names for controllers that run as local processes.

A controller in a pod dials ``<service>.<namespace>:<port>`` and cluster DNS
plus kube-proxy bring it to a pod the Service selects. Katib's controller, a
local process here, dials each experiment's suggestion service that way
(``<experiment>-<algorithm>.<namespace>:6789``, gRPC), and this machine's
resolver knows no Service. Go's gRPC client honours ``HTTPS_PROXY`` for names
(never for loopback addresses, so its API server calls go direct): the control
plane starts such a controller with ``HTTPS_PROXY`` pointing here.

This proxy answers HTTP ``CONNECT <service>.<namespace>[.svc[.cluster.local]]:<port>``
as cluster DNS and kube-proxy together would: the Service's port becomes its
``targetPort`` on a running pod it selects (``pod_dns.selected_ips``), reached
at the pod's IP, or inside the pod's own network namespace when it has one
(``pod_network``). A name that is no Service, or a Service with no running
pod, is answered ``503`` with the reason, which gRPC reports and retries.

    python -m mlops_cluster.service_proxy --kubeconfig admin.yaml --port 3128 \\
        --network-registry RUN_DIR/pod-networks
"""

from __future__ import annotations

import argparse
import json
import logging
import select
import socket
import socketserver
from pathlib import Path
from typing import Any

from . import pod_dns, pod_network

log = logging.getLogger("mlops_cluster.service_proxy")
API_TIMEOUT = 10
CLUSTER_SUFFIXES = ("", ".svc", ".svc.cluster.local")


class NoEndpoint(LookupError):
    """The name is no Service of the cluster, or none of its pods runs yet."""


def split_service_host(host: str) -> tuple[str, str] | None:
    """(service, namespace) for ``svc.ns``, ``svc.ns.svc`` or ``svc.ns.svc.cluster.local``."""
    for suffix in sorted(CLUSTER_SUFFIXES, key=len, reverse=True):
        if suffix and not host.endswith(suffix):
            continue
        stem = host[: len(host) - len(suffix)] if suffix else host
        parts = stem.split(".")
        if len(parts) == 2 and all(pod_dns.DNS_LABEL.match(p) for p in parts):
            return parts[0], parts[1]
    return None


def target_port(service: dict, pod: dict, port: int) -> int:
    """The pod port behind the Service's ``port`` (a number, or a named container port)."""
    for entry in (service.get("spec") or {}).get("ports") or []:
        if entry.get("port") != port:
            continue
        target = entry.get("targetPort", port)
        if isinstance(target, int):
            return target
        if str(target).isdigit():
            return int(target)
        for container in pod["spec"].get("containers") or []:
            for named in container.get("ports") or []:
                if named.get("name") == target:
                    return int(named["containerPort"])
        raise NoEndpoint(f"no container port named {target!r} in pod {pod['metadata']['name']}")
    raise NoEndpoint(f"Service {service['metadata']['name']} has no port {port}")


class Resolver:
    """Service name and port -> a connected socket, through the API server."""

    def __init__(self, api_client, registry: Path) -> None:
        import kubernetes  # noqa: PLC0415 - only the demo and the tests run the proxy

        self._core = kubernetes.client.CoreV1Api(api_client)
        self._api_exception = kubernetes.client.ApiException
        self.registry = registry

    def connect(self, host: str, port: int) -> socket.socket:
        names = split_service_host(host)
        if names is None:
            raise NoEndpoint(f"{host} is not a Service name (<service>.<namespace>)")
        service_name, namespace = names
        try:
            raw: Any = self._core.read_namespaced_service(  # not decoded: a urllib3 response
                service_name, namespace, _preload_content=False, _request_timeout=API_TIMEOUT
            )
            service = json.loads(raw.data)
        except self._api_exception as error:
            raise NoEndpoint(f"Service {namespace}/{service_name}: {error.status} {error.reason}") from None
        raw = self._core.list_namespaced_pod(namespace, _preload_content=False, _request_timeout=API_TIMEOUT)
        pods = json.loads(raw.data)["items"]
        ips = pod_dns.selected_ips(service, pods)
        if not ips:
            raise NoEndpoint(f"Service {namespace}/{service_name} selects no running pod yet")
        pod = next(p for p in pods if (p.get("status") or {}).get("podIP") == ips[0])
        port_in_pod = target_port(service, pod, port)
        pid = pod_network.namespace_pid(self.registry, ips[0])
        if pid is not None:
            return pod_network.connect(pid, port_in_pod)
        return socket.create_connection((ips[0], port_in_pod), timeout=10)


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [a, b]
    for s in sockets:
        s.settimeout(None)
    while True:
        readable, _, _ = select.select(sockets, [], [], 300)
        if not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)


class ProxyHandler(socketserver.StreamRequestHandler):
    resolver: Resolver

    def handle(self) -> None:
        request = self.rfile.readline(8192).decode("latin-1").split()
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass  # headers: nothing in them changes where the tunnel goes
        if len(request) < 2 or request[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        host, _, port = request[1].rpartition(":")
        try:
            upstream = self.resolver.connect(host, int(port))
        except (NoEndpoint, OSError, ValueError) as why:
            log.info("CONNECT %s refused: %s", request[1], why)
            self.wfile.write(f"HTTP/1.1 503 Service Unavailable\r\n\r\n{why}\n".encode())
            return
        log.info("CONNECT %s", request[1])
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        with upstream:
            pipe(self.connection, upstream)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv: list[str] | None = None) -> None:
    import kubernetes  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--network-registry",
        type=Path,
        required=True,
        help="the pod runner's folder of pods with a network namespace of their own",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    ProxyHandler.resolver = Resolver(
        kubernetes.config.new_client_from_config(config_file=args.kubeconfig), args.network_registry
    )
    with Server(("127.0.0.1", args.port), ProxyHandler) as server:
        log.info("service proxy on 127.0.0.1:%d", args.port)
        server.serve_forever()


if __name__ == "__main__":
    main()
