"""A stand-in for the hub's GPU availability service (issue 3), computed from the real cluster.

The hub-side service is not on this branch. This one answers what the jobs
API reads from it (``{"gpu_types": {product: {free, total, held,
free_per_node}}}``) from the local cluster's real Nodes and Pods, and only to
a request carrying the expected JupyterHub token, as the real one does.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GPU = "nvidia.com/gpu"
PRODUCT = "nvidia.com/gpu.product"


def snapshot(core_v1) -> dict:
    held_by_node: dict[str, int] = {}
    for pod in core_v1.list_pod_for_all_namespaces().items:
        if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed"):
            continue
        gpus = sum(
            int(((c.resources.requests or {}) if c.resources else {}).get(GPU, 0))
            for c in pod.spec.containers
        )
        held_by_node[pod.spec.node_name] = held_by_node.get(pod.spec.node_name, 0) + gpus
    types: dict[str, dict] = {}
    for node in core_v1.list_node().items:
        product = (node.metadata.labels or {}).get(PRODUCT)
        total = int((node.status.allocatable or {}).get(GPU, 0))
        if not product or not total:
            continue
        entry = types.setdefault(product, {"free": 0, "total": 0, "held": 0, "free_per_node": []})
        held = held_by_node.get(node.metadata.name, 0)
        free = 0 if node.spec.unschedulable else total - held
        entry["total"] += total
        entry["held"] += held
        entry["free"] += free
        entry["free_per_node"].append(free)
    return {"gpu_types": types}


class AvailabilityStandIn:
    def __init__(self, core_v1, token: str):
        core, expected = core_v1, token

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.headers.get("Authorization") != f"token {expected}":
                    self.send_response(403)
                    self.end_headers()
                    return
                body = json.dumps(snapshot(core)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/availability"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
