"""One value for a user's labels everywhere: the namespace objects the hub provisions,
the notebook pods (the owner label and KubeSpawner's own labels, which the SSH gateway
selects by), the job pods the notebook side labels and the availability service's caps."""

from __future__ import annotations

import re

import pytest
from jupyter_mlops.jobs import podspec
from jupyter_mlops.jobs.settings import JobsSettings
from jupyterhub_mlops.provisioning import (
    namespace_manifest,
    role_binding_manifest,
    service_account_manifest,
)
from jupyterhub_mlops.ssh.names import Target
from jupyterhub_mlops.ssh.routing import pod_selector
from kubespawner.slugs import is_valid_label, safe_slug
from mlops_contract.labels import OWNER_LABEL, label_value, owner_labels
from mlops_contract.namespaces import user_namespace

# What JupyterHub's authenticators produce, and the awkward cases of the slug.
NAMES = [
    "alice",
    "Alice",
    "alice.smith",
    "alice_smith",
    "carol@example.org",
    "firstname.lastname@university.example.edu",
    "a--b",
    "a-b",
    "-lead",
    "trail-",
    "1abc",
    "9.x@y",
    "jürgen",
    "Jürgen.Groß",
    "x" * 63,
    "x" * 64,
    "a" * 70 + "@b",
    "@@@",
    "a",
    "user name",
    "日本語",
]
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?")


@pytest.mark.parametrize("name", NAMES + [""])
def test_the_value_is_the_one_kubespawner_writes_so_the_gateway_selects_the_pod(name):
    assert label_value(name) == safe_slug(name, is_valid=is_valid_label)
    assert LABEL_VALUE.fullmatch(label_value(name))


def test_readable_names_are_kept_and_others_are_hashed_apart():
    assert [label_value(n) for n in ("alice", "Alice", "alice.smith")] == ["alice", "Alice", "alice.smith"]
    assert re.fullmatch(r"carol-example-org---[0-9a-f]{8}", label_value("carol@example.org"))
    values = [label_value(n) for n in NAMES]
    assert len(set(values)) == len(NAMES)
    assert len(label_value("a" * 70 + "@b")) <= 32


@pytest.mark.parametrize(
    "user", ["alice", "Alice", "alice.smith", "carol@example.org", "firstname.lastname@university.example.edu"]
)
def test_namespace_objects_notebook_pods_job_pods_and_the_gateway_agree(user):
    value = label_value(user)
    namespace = user_namespace(user)
    provisioned = [
        namespace_manifest(namespace, user),
        service_account_manifest(namespace, user),
        role_binding_manifest(namespace, user),
    ]
    assert {m["metadata"]["labels"][OWNER_LABEL] for m in provisioned} == {value}
    assert owner_labels(user) == {OWNER_LABEL: value}
    # The notebook side labels job pods with the key of the contract and the value
    # GPUKubeSpawner hands it (``MLOPS_OWNER_LABEL``, as GPUKubeSpawner.get_env sets it).
    notebook = JobsSettings.from_environment({"MLOPS_OWNER_LABEL": f"{OWNER_LABEL}={value}"}).notebook_pod()
    assert podspec.pod_metadata(notebook)["labels"] == owner_labels(user)
    # The gateway asks for the value KubeSpawner put on the pod.
    assert f"hub.jupyter.org/username={safe_slug(user, is_valid=is_valid_label)}," in (pod_selector(Target(user)))
