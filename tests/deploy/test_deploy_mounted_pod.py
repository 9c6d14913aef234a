"""The pure parts of mounted_pod: Service links and DNS as kube-proxy and the cluster
DNS would route them, and where tmpfs mount points go."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.mounted_pod import cluster_dns, mount_anchors, service_endpoints, service_links

POD = {
    "metadata": {"name": "proxy-1", "labels": {"component": "proxy"}},
    "spec": {"containers": [{"ports": [{"name": "https", "containerPort": 8443}]}]},
    "status": {"podIP": "127.129.0.3"},
}
SERVICE = {
    "metadata": {"name": "proxy-public"},
    "spec": {
        "selector": {"component": "proxy"},
        "ports": [
            {"name": "https", "port": 443, "targetPort": "https"},
            {"name": "http", "port": 80, "targetPort": 8000},
        ],
    },
}


def test_service_links_name_the_pod_behind_the_service_and_its_target_ports():
    endpoints = service_endpoints([SERVICE], [POD])
    assert endpoints == {"proxy-public": ("127.129.0.3", {"https": 8443, "http": 8000})}
    links = service_links(endpoints, "127.0.0.1", 6443)
    assert links["PROXY_PUBLIC_SERVICE_HOST"] == "127.129.0.3"
    assert links["PROXY_PUBLIC_SERVICE_PORT"] == "8443"
    assert links["PROXY_PUBLIC_SERVICE_PORT_HTTP"] == "8000"
    assert (links["KUBERNETES_SERVICE_HOST"], links["KUBERNETES_SERVICE_PORT"]) == ("127.0.0.1", "6443")
    assert (
        "127.129.0.3 proxy-public proxy-public.jhub proxy-public.jhub.svc "
        "proxy-public.jhub.svc.cluster.local" in cluster_dns(endpoints, "jhub")
    )


def test_a_service_without_a_running_pod_has_no_link():
    assert service_endpoints([SERVICE], [{**POD, "status": {}}]) == {}


def test_tmpfs_goes_on_the_top_missing_folder_or_one_of_ours(tmp_path):
    config, secret = tmp_path / "config", tmp_path / "secret"
    config.mkdir()
    secret.mkdir()
    file = tmp_path / "jupyterhub_config.py"
    file.write_text("")
    binds = [
        (file, "/usr/local/etc/jupyterhub/jupyterhub_config.py"),
        (config, "/usr/local/etc/jupyterhub/config/"),
        (secret, "/var/run/secrets/x/y"),
    ]
    existing = {"/usr", "/usr/local", "/usr/local/etc", "/var", "/var/run"}
    anchors = mount_anchors(binds, free=lambda p: str(p) not in existing)
    assert anchors == ["/usr/local/etc/jupyterhub", "/var/run/secrets"]
    # Once made (and marked), the same folder is the anchor again: nothing is written there.
    existing |= {"/usr/local/etc/jupyterhub", "/var/run/secrets"}
    ours = {"/usr/local/etc/jupyterhub", "/var/run/secrets"}
    again = mount_anchors(binds, free=lambda p: str(p) not in existing or str(p) in ours)
    assert again == anchors
    assert mount_anchors([(file, "/etc/hosts")], free=lambda p: str(p) != "/etc" and not Path(p).exists()) == []
