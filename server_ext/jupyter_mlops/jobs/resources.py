"""The Kubernetes resources the jobs API touches, and their URL paths."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_contract import jobs


@dataclass(frozen=True)
class Resource:
    group: str
    """API group; ``""`` for the core group."""
    version: str
    plural: str
    kind: str
    component: str = "Kubernetes"
    """What must be installed for the API server to serve it; named in errors."""

    @classmethod
    def of(cls, kind: jobs.JobKind) -> Resource:
        """The resource of a job kind of the contract."""
        return cls(kind.group, kind.version, kind.plural, kind.kind, kind.component)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``pytorchjobs.kubeflow.org`` — how RBAC rules and kubectl name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [root]
        if namespace is not None:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)


PYTORCHJOBS = Resource.of(jobs.PYTORCHJOB)
EXPERIMENTS = Resource.of(jobs.SWEEP)
TRIALS = Resource("kubeflow.org", "v1beta1", "trials", "Trial", "Katib")
WORKFLOWS = Resource.of(jobs.WORKFLOW)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
PODS = Resource("", "v1", "pods", "Pod")
EVENTS = Resource("", "v1", "events", "Event")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
