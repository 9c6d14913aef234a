"""HTML and plain text for what the magics show: tables, job status, progress, sweeps, GPUs.

Pure functions over the dicts the jobs API returns (``JobHandle.status()``,
the hub's availability snapshot); every value from the
cluster is escaped before it goes into HTML.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from html import escape

from .plot import parallel_coordinates_svg

STATE_COLOURS = {
    "Pending": "#a16207",
    "Queued": "#7c3aed",
    "Running": "#1d4ed8",
    "Succeeded": "#15803d",
    "Failed": "#b91c1c",
    "Cancelled": "#6b7280",
}


# ---------------------------------------------------------------- tables
def table_html(headers: list[str], rows: list[list], css_class: str = "mlops-table") -> str:
    head = "".join(f"<th style='text-align:left'>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table class='{css_class}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table_text(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------- GPUs
GPU_HEADERS = [
    "GPU type",
    "free",
    "total",
    "held",
    "largest free on one node",
    "nodes",
    "unavailable",
]
UNKNOWN = "GPU availability is unknown right now: the hub is catching up with the cluster; try again in a moment."


def gpu_rows(snapshot: dict) -> list[list]:
    """One row per GPU type of the hub's availability snapshot, most free first.

    A type is named by its key (``NVIDIA-A100-SXM4-80GB``, or
    ``NVIDIA-A100-SXM4-80GB/mig-1g.10gb`` for a MIG slice), so MIG slices of
    one product stay apart. ``unavailable``: GPUs on nodes that offer nothing
    now (cordoned, not ready), which ``total`` leaves out.
    """
    rows = []
    for name, entry in (snapshot.get("gpu_types") or {}).items():
        per_node = entry.get("free_per_node")
        largest = entry.get("largest_free_on_node")
        if largest is None and per_node is not None:
            largest = max(per_node, default=0)
        nodes = entry.get("nodes")
        if nodes is None and per_node is not None:
            nodes = len(per_node)
        rows.append(
            [
                name,
                entry.get("free", 0),
                entry.get("total"),
                entry.get("held"),
                largest,
                nodes,
                entry.get("unavailable"),
            ]
        )
    return sorted(rows, key=lambda r: (-(r[1] or 0), str(r[0])))


def cap_line(snapshot: dict) -> str | None:
    """The user's GPUs against their cap, from the hub's per-user answer; None if uncapped."""
    user = snapshot.get("user") or {}
    if user.get("cap") is None:
        return None
    return f"You hold {user.get('held_gpus', 0)} GPUs of your cap of {user['cap']}."


def gpus_html(snapshot: dict) -> str:
    if snapshot.get("gpu_types") is None:
        return f"<p>{escape(UNKNOWN)}</p>"
    rows = gpu_rows(snapshot)
    if not rows:
        return "<p>The cluster reports no GPUs.</p>"
    cap = cap_line(snapshot)
    return (
        "<p><b>Cluster GPUs</b> (free now)</p>"
        + table_html(GPU_HEADERS, rows)
        + (f"<p class='mlops-cap'>{escape(cap)}</p>" if cap else "")
    )


def gpus_text(snapshot: dict) -> str:
    if snapshot.get("gpu_types") is None:
        return UNKNOWN
    rows = gpu_rows(snapshot)
    if not rows:
        return "The cluster reports no GPUs."
    cap = cap_line(snapshot)
    return "Cluster GPUs (free now)\n" + table_text(GPU_HEADERS, rows) + (f"\n{cap}" if cap else "")


# ---------------------------------------------------------------- job lists
JOB_HEADERS = ["kind", "name", "state", "created", "message"]


def jobs_rows(summaries: list[dict]) -> list[list]:
    return [[s["kind"], s["name"], s["state"], s.get("created"), s.get("message")] for s in summaries]


def jobs_html(summaries: list[dict]) -> str:
    if not summaries:
        return "<p>No jobs yet.</p>"
    return table_html(JOB_HEADERS, jobs_rows(summaries))


def jobs_text(summaries: list[dict]) -> str:
    if not summaries:
        return "No jobs yet."
    return table_text(JOB_HEADERS, jobs_rows(summaries))


# ---------------------------------------------------------------- one job
class KindView:
    """How a job's status reads in a notebook; this default fits PyTorchJobs (replicas).

    Each kind whose status carries more (a sweep's trials, a workflow's steps)
    has its own subclass in ``KIND_VIEWS``.
    """

    def progress(self, status: dict) -> list[str]:
        """How far the job's parts have got (without the controller's message)."""
        parts = status.get("parts") or []
        if not parts:
            return []
        noun = status.get("part_noun") or "part"
        counts = Counter(p.get("phase") or p.get("state") or "Pending" for p in parts)
        return [
            f"{len(parts)} {noun}{'s' if len(parts) != 1 else ''}: "
            + ", ".join(f"{n} {phase}" for phase, n in sorted(counts.items()))
        ]

    def parts_table(self, parts: list[dict]) -> tuple[list[str], list[list]]:
        return (
            ["replica", "phase", "pod", "node"],
            [[p["name"], p.get("phase"), p.get("pod"), p.get("node")] for p in parts],
        )

    def extra_html(self, status: dict) -> list[str]:
        """What follows the parts table in HTML."""
        return []

    def extra_text(self, status: dict) -> list[str]:
        """What follows the parts table in plain text."""
        return []


class SweepView(KindView):
    def progress(self, status: dict) -> list[str]:
        trials = status.get("trials") or {}
        details = [
            f"trials {trials.get('succeeded', 0)} succeeded, "
            f"{trials.get('running', 0)} running, {trials.get('failed', 0)} failed"
        ]
        best = status.get("best_trial")
        if best:
            metrics = ", ".join(f"{k}={v}" for k, v in best["metrics"].items())
            details.append(f"best {metrics} ({best['name']})")
        return details

    def parts_table(self, parts: list[dict]) -> tuple[list[str], list[list]]:
        names = sorted({n for p in parts for n in p.get("parameters", {})})
        metrics = sorted({n for p in parts for n in p.get("metrics", {})})
        headers = ["trial", "state", *names, *metrics]
        rows = [
            [
                p["name"],
                p["state"],
                *(p["parameters"].get(n) for n in names),
                *(p["metrics"].get(m) for m in metrics),
            ]
            for p in parts
        ]
        return headers, rows

    def extra_html(self, status: dict) -> list[str]:
        return [
            f"<p class='mlops-best'>{escape(best_trial_line(status))}</p>",
            sweep_plot(status),
        ]

    def extra_text(self, status: dict) -> list[str]:
        return [best_trial_line(status)]


class WorkflowView(KindView):
    def parts_table(self, parts: list[dict]) -> tuple[list[str], list[list]]:
        return (
            ["step", "type", "state", "started", "finished"],
            [[p["name"], p.get("type"), p["state"], p.get("started"), p.get("finished")] for p in parts],
        )


KIND_VIEWS: dict[str, KindView] = {"sweep": SweepView(), "workflow": WorkflowView()}


def kind_view(status: dict) -> KindView:
    return KIND_VIEWS.get(status["kind"], KindView())


def progress_line(status: dict) -> str:
    """One line: the job, its state, and how far the replicas, trials or steps have got."""
    return f"{status['kind']} {status['name']}: " + " · ".join([status["state"], *progress(status)])


def progress(status: dict) -> list[str]:
    """How far the replicas, trials or steps have got, and the controller's message."""
    details = kind_view(status).progress(status)
    if status.get("message") and status["state"] != "Running":
        details.append(status["message"])
    return details


def parts_table(status: dict) -> tuple[list[str], list[list]]:
    """Headers and rows of the replicas, trials or steps."""
    return kind_view(status).parts_table(status.get("parts") or [])


def sweep_plot(status: dict) -> str:
    """The parallel-coordinates SVG of a sweep's trials ('' before any trial exists)."""
    if not status.get("parts") or not status.get("plot"):
        return ""
    return parallel_coordinates_svg(status["plot"])


def best_trial_line(status: dict) -> str:
    best = status.get("best_trial")
    if not best:
        return f"{status['name']}: no trial has reported its metric yet."
    params = ", ".join(f"{k}={v}" for k, v in best["parameters"].items())
    metrics = ", ".join(f"{k}={v}" for k, v in best["metrics"].items())
    return f"best trial {best['name']}: {metrics} with {params}"


def job_html(status: dict, warnings: Sequence[str] = ()) -> str:
    colour = STATE_COLOURS.get(status["state"], "#111")
    html = [
        f"<div class='mlops-job' data-state='{escape(status['state'])}'>",
        f"<p class='mlops-progress'><b>{escape(status['kind'])}</b> "
        f"<code>{escape(status['name'])}</code> "
        f"<span style='color:{colour};font-weight:bold'>{escape(status['state'])}</span>"
        + "".join(f" · {escape(detail)}" for detail in progress(status))
        + "</p>",
    ]
    for warning in warnings:
        html.append(f"<p class='mlops-warning' style='color:#a16207'>{escape(warning)}</p>")
    headers, rows = parts_table(status)
    if rows:
        html.append(table_html(headers, rows))
    html.extend(kind_view(status).extra_html(status))
    html.append("</div>")
    return "".join(html)


def job_text(status: dict, warnings: Sequence[str] = ()) -> str:
    lines = [progress_line(status), *warnings]
    headers, rows = parts_table(status)
    if rows:
        lines.append(table_text(headers, rows))
    lines.extend(kind_view(status).extra_text(status))
    return "\n".join(lines)
