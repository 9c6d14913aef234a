"""``Workload``: what each pod of a PyTorchJob or a sweep's trial asks for.

The image, the GPUs (count and product), CPU, memory and environment are
the same fields with the same rules for every job kind that builds its own
pods, so they live here once: ``PyTorchJob`` and ``Sweep`` inherit them
(keyword-only, so each kind keeps its own positional fields first); the REST
body's ``Workload`` model (``mlops_contract.api``) declares the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from . import podspec
from .errors import InvalidSpec
from .settings import NotebookPod


@dataclass(kw_only=True)
class Workload:
    gpus: int = 0
    """GPUs per pod."""
    gpu_type: str | None = None
    """GPU product label (``nvidia.com/gpu.product``), e.g. ``NVIDIA-A100-SXM4-80GB``."""
    cpu: str | None = None
    """CPU per pod as a Kubernetes quantity ("4", "500m"); requested and limited."""
    memory: str | None = None
    """Memory per pod as a Kubernetes quantity ("16Gi")."""
    image: str | None = None
    """Container image; default: the notebook's own image (``JUPYTER_IMAGE_SPEC``)."""
    env: dict[str, str] = field(default_factory=dict)

    def validate_workload(self, notebook: NotebookPod) -> None:
        """Check and normalise the workload fields; ``InvalidSpec`` names the first bad one."""
        podspec.check_int(self.gpus, "gpus", 0, 64)
        self.cpu = podspec.check_quantity(self.cpu, "cpu")
        self.memory = podspec.check_quantity(self.memory, "memory")
        self.env = podspec.check_env(self.env)
        podspec.check_text(self.gpu_type, "gpu_type")
        podspec.check_text(self.image, "image")
        if self.gpu_type and not self.gpus:
            raise InvalidSpec("gpu_type", "set gpus (per pod) when you choose a GPU type")
        self.pod_image(notebook)

    def pod_image(self, notebook: NotebookPod) -> str:
        """This workload's image, else the notebook's; ``InvalidSpec`` when neither is known."""
        image = self.image or notebook.image
        if not image:
            raise InvalidSpec(
                "image",
                "no image given and the notebook's image is unknown (JUPYTER_IMAGE_SPEC is not set)",
            )
        return image

    def workload(self) -> dict:
        """The workload fields as keyword arguments (to hand them on to another kind)."""
        return {f.name: getattr(self, f.name) for f in fields(Workload)}

    def container(self, name: str, command: list[str] | str, notebook: NotebookPod) -> dict:
        """The container that runs ``command`` (a list, or a shell-style string as a spec
        holds it) with this workload's image (default: the notebook's), limits and env."""
        return podspec.container(
            name,
            self.pod_image(notebook),
            podspec.check_command(command),
            gpus=self.gpus,
            cpu=self.cpu,
            memory=self.memory,
            env=self.env,
        )

    def pod_spec(self, containers: list[dict], notebook: NotebookPod, restart_policy: str | None = None) -> dict:
        """A pod spec placed on this workload's GPU type when it asks for GPUs."""
        return podspec.pod_spec(
            containers,
            gpus=self.gpus,
            gpu_type=self.gpu_type,
            notebook=notebook,
            restart_policy=restart_policy,
        )
