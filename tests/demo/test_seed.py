"""The other users' GPU pods of the demo, as dicts."""

from __future__ import annotations

from demo import seed  # the repository's `demo` package, beside `tests`


def test_seed_pods_look_like_notebook_pods_of_their_users_and_hold_gpus():
    namespace, *pods = seed.seed_manifests()
    assert namespace == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": seed.NAMESPACE}}
    assert len({p["metadata"]["labels"]["jupyterhub-mlops/user"] for p in pods}) == len(pods)
    carol = next(p for p in pods if p["metadata"]["name"] == "jupyter-carol")
    assert carol["metadata"]["labels"] == {
        "component": "singleuser-server",
        "hub.jupyter.org/username": "carol",
        "hub.jupyter.org/servername": "",
        "jupyterhub-mlops/user": "carol",
    }
    assert carol["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert carol["spec"]["tolerations"] == [seed.GPU_TOLERATION]
    assert carol["spec"]["containers"][0]["resources"] == {
        "limits": {"nvidia.com/gpu": "4"},
        "requests": {"nvidia.com/gpu": "4"},
    }
    # Nothing in them runs: the pod runner only runs pods that opt in.
    assert all("annotations" not in p["metadata"] for p in pods)


def test_describe_says_who_holds_what():
    pods = seed.seed_manifests()[1:]
    assert seed.describe(pods[0]) == "carol holds 4 x nvidia.com/gpu (NVIDIA-A100-SXM4-80GB)"
    frank = next(p for p in pods if p["metadata"]["name"] == "jupyter-frank")
    assert seed.describe(frank) == "frank holds 3 x nvidia.com/mig-1g.10gb"
