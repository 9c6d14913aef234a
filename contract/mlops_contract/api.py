"""The documents the notebook side's REST API exchanges, declared once.

These models validate request bodies in the handlers (``validate_body``),
generate the OpenAPI document's schemas (``mlops_contract.openapi``), and
through that document the sidebar's TypeScript types. The jobs Python API
takes its vocabulary (parameter types, distributions) from here too. What
only a spec's own ``validate`` can judge (a name Kubernetes accepts, a command
that uses every parameter) stays there; these say what a body may hold.

pydantic is the one dependency: JupyterHub (both images carry it) and Hera
require pydantic 2.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .jobs import SWEEP_NAME_LIMIT, TRIAL_COUNTS
from .sweep_algorithms import DEFAULT_ALGORITHM, SWEEP_ALGORITHM_NAMES, UNSERVED_ALGORITHMS

ParameterType = Literal["double", "int", "categorical", "discrete"]
"""Katib's parameter types: numeric ranges (double, int) or listed values."""
PARAMETER_TYPES = typing.get_args(ParameterType)

Distribution = Literal["uniform", "loguniform", "normal", "lognormal"]
"""How a numeric parameter's values are drawn; the log ones need a positive range."""
DISTRIBUTIONS: dict[str, str] = dict(
    zip(typing.get_args(Distribution), ("uniform", "logUniform", "normal", "logNormal"), strict=True)
)
"""The name users write -> Katib's ``feasibleSpace.distribution`` (the values Katib
v0.19's webhook accepts)."""
LOG_DISTRIBUTIONS = ("loguniform", "lognormal")

Kind = Literal["pytorchjob", "sweep", "workflow"]
State = Literal["Pending", "Queued", "Running", "Succeeded", "Failed", "Cancelled"]
IfNotFits = Literal["refuse", "queue"]
"""When the GPUs are not free now: refuse (409 gpus-unavailable) or queue."""
IF_NOT_FITS = typing.get_args(IfNotFits)
Quantity = Annotated[
    str,
    Field(
        pattern=r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$",
        description='A Kubernetes quantity, e.g. "4", "500m", "16Gi".',
    ),
]
JobName = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$")]
SweepName = Annotated[
    str,
    Field(
        pattern=rf"^[a-z]([-a-z0-9]{{0,{SWEEP_NAME_LIMIT - 2}}}[a-z0-9])?$",
        description=f"at most {SWEEP_NAME_LIMIT} characters (Katib's limit)",
    ),
]
Algorithm = Literal[SWEEP_ALGORITHM_NAMES]  # type: ignore[valid-type]
"""The search algorithms the cluster serves (``mlops_contract.sweep_algorithms``)."""
SettingValue = Annotated[str, Field(min_length=1)] | int | float
Command = Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]
"""A command line (split like a shell) or its arguments; a sweep's ``{param}`` placeholders
are replaced by each trial's values."""


def _absent(**constraints) -> Any:
    """An optional field that, when sent, must hold a value: null is refused (leave it out)."""
    return Field(default=None, json_schema_extra=_no_default, **constraints)


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


class Document(BaseModel):
    """Bodies are JSON: unknown fields are refused and no value is coerced to another type."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ----------------------------------------------------------------- requests
class Snapshot(Document):
    """The code shipped with a job: a folder inside the server's root (its ``.gitignore``
    honoured). Omitted: the root directory (none for workflows); null: no snapshot."""

    path: str = ""
    include: list[str] = []
    exclude: list[str] = []
    gitignore: bool = True


class Submit(Document):
    snapshot: Snapshot | None = _absent()
    if_not_fits: IfNotFits = "refuse"


class Workload(Document):
    """The pod fields every kind that builds its own pods shares (per pod)."""

    gpus: int = Field(default=0, ge=0, le=64, description="per pod")
    gpu_type: str = _absent(min_length=1, description="nvidia.com/gpu.product value; needs gpus")
    cpu: Quantity | float = _absent()
    memory: Quantity = _absent()
    image: str = _absent(min_length=1, description="default: the notebook's own image")
    env: dict[str, str] = _absent()


class PyTorchJobSpec(Submit, Workload):
    name: JobName = _absent()
    command: Command
    replicas: int = Field(default=1, ge=1, le=1024)
    nproc_per_node: int = _absent(ge=1, le=64, description="above 1 only with a torchrun command")
    backoff_limit: int = Field(
        default=3, ge=0, le=100, description="restarts of crashed replicas after which the job fails"
    )


class Parameter(Document):
    """One dimension of a sweep's search space: a range (min/max/step) or values."""

    name: str
    type: ParameterType = "double"
    min: float = _absent()
    max: float = _absent()
    step: float = _absent()
    values: list[Any] = _absent()
    distribution: Distribution = _absent(description="how Katib draws a double or int range; the log ones need min > 0")


class SweepSpec(Submit, Workload):
    name: SweepName = _absent()
    command: Command
    parameters: list[Parameter] = Field(min_length=1)
    objective_metric: str = Field(description="printed by trials as name=value")
    objective: Literal["maximize", "minimize"] = "maximize"
    goal: float = _absent()
    additional_metrics: list[str] = []
    algorithm: Algorithm = DEFAULT_ALGORITHM
    algorithm_settings: dict[str, SettingValue] = _absent(
        description='Katib algorithmSettings by name, e.g. {"random_state": 42}; the names '
        "each algorithm accepts are checked before the sweep is created"
    )
    parallel_trials: int = Field(default=1, ge=1, le=1000)
    max_trials: int = Field(default=4, ge=1, le=100000)
    max_failed_trials: int = _absent(ge=0)
    trial_kind: Literal["pytorchjob", "pod", "workflow"] = "pod"
    replicas: int = Field(default=1, ge=1, description="pods per trial (pytorchjob trials only)")


class WorkflowManifest(BaseModel):
    """An argoproj.io/v1alpha1 Workflow, e.g. from Hera's ``Workflow.to_dict()``."""

    model_config = ConfigDict(extra="allow", strict=True)
    apiVersion: Literal["argoproj.io/v1alpha1"]
    kind: Literal["Workflow"]
    metadata: dict[str, Any]
    spec: dict[str, Any]


class WorkflowSpec(Submit):
    manifest: WorkflowManifest


SPECS: dict[str, type[Submit]] = {
    "pytorchjob": PyTorchJobSpec,
    "sweep": SweepSpec,
    "workflow": WorkflowSpec,
}
"""The request body of each kind's submit."""


# ---------------------------------------------------------------- responses
class BestTrial(BaseModel):
    name: str
    parameters: dict[str, str]
    metrics: dict[str, str | None]


TrialCounts = create_model(
    "TrialCounts",
    __doc__="A sweep's trials by what Katib counts them as (``jobs.TRIAL_COUNTS``): each "
    "trial in exactly one besides total.",
    **{key: (int, Field(ge=0)) for key in TRIAL_COUNTS},  # type: ignore[call-overload]
)


class QueuePlace(BaseModel):
    """Where a queued job stands in Kueue's line."""

    position: int | None = Field(
        ge=1, description="1 for first in line in the group's queue; null while Kueue has not ranked it"
    )
    reason: str = Field(description="why Kueue holds it, in Kueue's words")


class JobSummary(BaseModel):
    """A job as lists and watch events show it."""

    kind: Kind
    name: str
    namespace: str
    uid: str
    state: State
    message: str
    created: str | None
    started: str | None = None
    finished: str | None = None
    gpus: int = Field(ge=0, description="the GPUs the job holds at most at once")
    gpu_type: str | None = Field(description="their product; null when any type (or none)")
    trials: TrialCounts = _absent(description="Sweeps only.")  # type: ignore[valid-type]
    best_trial: BestTrial = _absent(
        description="Sweeps only, once Katib has one; in a sweep's detail, else the best trial "
        "that reported the objective metric so far."
    )
    queue: QueuePlace = _absent(description="Queued jobs only: their place in Kueue's line.")


class WatchEvent(BaseModel):
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    job: JobSummary


class Submitted(BaseModel):
    """What identifies a job just created (submitted or resubmitted)."""

    kind: Kind
    name: str
    namespace: str
    warnings: list[str]


class GpuServer(BaseModel):
    """One server with GPUs of a type, in service or not."""

    node: str
    total: int = Field(ge=0, description="its GPUs of this type")
    free: int = Field(ge=0, description="0 while unavailable: unavailable GPUs are never free")
    unavailable: str | None = Field(
        description="why it offers nothing now (cordoned, not ready, an untolerated taint); null when in service"
    )


class GpuType(BaseModel):
    model_config = ConfigDict(extra="allow")
    free: int = _absent()
    total: int = _absent(description="GPUs on the servers in service")
    free_per_node: list[int] = _absent()
    unavailable: int = _absent(description="GPUs on servers out of service (see servers)")
    queued: int = _absent(ge=0, description="pods waiting in Kueue's line for this type (its admission gate)")
    servers: list[GpuServer] = _absent()


class GpuAvailability(BaseModel):
    """The hub availability service's snapshot as ``GET /gpus`` relays it, with ``configured``
    added: false (with ``message``) when no availability service is configured."""

    model_config = ConfigDict(extra="allow")
    configured: bool
    message: str = _absent()
    gpu_types: dict[str, GpuType] = _absent()


class Error(BaseModel):
    """Ours always carry ``error``; jupyter-server's own (e.g. unauthenticated) do not."""

    model_config = ConfigDict(extra="allow")
    error: str = _absent(description="a stable code, e.g. invalid-spec")
    message: str
    reason: str | None = None
    field: str = _absent(description="invalid-spec: the field to correct")
    permission: str = _absent()
    server_message: str = _absent()
    component: str = _absent()
    resource: str = _absent()


SCHEMAS: tuple[type[BaseModel], ...] = (
    Snapshot,
    PyTorchJobSpec,
    Parameter,
    SweepSpec,
    WorkflowSpec,
    JobSummary,
    WatchEvent,
    Submitted,
    GpuAvailability,
    Error,
)
"""The models the OpenAPI document names as components (those they use come along)."""


# --------------------------------------------------------------- validation
class BodyError(ValueError):
    """A request body the models refuse: ``field`` to correct and a sentence why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def validate_body(kind: str, raw: bytes | str) -> Submit:
    """The submit body of ``kind`` as its model; ``BodyError`` names the first bad field."""
    try:
        return SPECS[kind].model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        field = field_path(errors[0]["loc"])
        # A field of several forms (a command: text or a list) fails once per form; the
        # form the value has says more than "wrong type" for the others.
        same = [e for e in errors if field_path(e["loc"]) == field]
        chosen = next((e for e in same if not e["type"].endswith("_type")), same[0])
        if field == "algorithm" and chosen.get("input") in UNSERVED_ALGORITHMS:
            raise BodyError(field, UNSERVED_ALGORITHMS[chosen["input"]]) from None
        raise BodyError(field, _sentence(chosen)) from None


def field_path(loc: tuple) -> str:
    """``("parameters", 0, "name")`` -> ``parameters[0].name``; union branches left out."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("str", "list[str]", "int", "float", "constrained-str", "function-after"):
            continue  # pydantic names the union member it tried; the field is what the user sent
        elif not path:
            path = part
        else:
            path += f".{part}"
    return path


def _sentence(error: Mapping[str, Any]) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "is required"
    if given is None:
        return "must not be null (leave it out for the default)"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return "must be one of " + expected.replace("'", "").replace(" or ", ", ")
    if kind.endswith("_type") or kind in ("model_type", "dict_type", "list_type"):
        return f"has the wrong type ({_json_type(given)})"
    return error["msg"][0].lower() + error["msg"][1:]


def _json_type(value) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )
