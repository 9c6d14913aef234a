"""The spawn page's GPU form: rendering and server-side validation (pure functions).

Rows come from the availability service (``profiles`` of its snapshot), shown
as cards (``spawn_cards``: one per GPU type, the count chosen inside); the
form posts ``profile`` (a slug) and, optionally, ``gpus`` (must equal the
profile's count). Anything else is refused with ``FormError``, which carries
the HTTP status and a sentence the user can act on.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .spawn_cards import group_cards, selected_slug

HERE = Path(__file__).resolve().parent
_ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
MAX_VALUE_LENGTH = 100
ALLOWED_FIELDS = {"profile", "gpus", "queue"}
# JupyterHub adds these to every spawn form post.
IGNORED_FIELDS = {"_xsrf"}


class FormError(Exception):
    """A refused choice: ``status`` (400 tampered/invalid, 403 over a cap or a
    group quota, 409 no room, 503 unknown) and ``code`` (a metric label)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code


STATUS_OF_REASON = {
    "over_cap": 403,
    "over_group_quota": 403,
    "group_quota_unknown": 503,
    "none_free": 409,
    "no_node_large_enough": 409,
    "no_gpu_type": 409,
    "servers_unavailable": 409,
    "unknown": 503,
    "unknown_profile": 400,
}
QUEUEABLE_REASONS = frozenset({"none_free", "over_group_quota"})
"""Refusals a spawn may wait out in Kueue's line (``GpuProfiles.queue_with_kueue``): the
GPUs exist but are taken. Never a user's own cap, nor a shape no server can hold."""


def wants_queue(options: Mapping) -> bool:
    """Whether the form ("on", "1", "true") or user_options (true) asks to wait in line."""
    value = options.get("queue")
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    return value is True or (isinstance(value, str) and value.lower() in {"on", "1", "true"})


def _single(options: Mapping, name: str):
    value = options.get(name)
    if isinstance(value, list):
        if len(value) != 1:
            raise FormError(400, "invalid_form", f"Send exactly one value for '{name}'.")
        value = value[0]
    return value


def validate_choice(options: Mapping, rows: Sequence[Mapping], *, may_queue: bool = False) -> Mapping:
    """The row of the chosen profile, or ``FormError``.

    ``options`` is either the raw form (lists of strings) or user_options
    from the REST API (plain values). ``may_queue``: the hub queues spawns, so
    a choice that asks to wait in line passes when its GPUs are only taken.
    """
    for name in options:
        if name not in ALLOWED_FIELDS and name not in IGNORED_FIELDS:
            shown = html.escape(str(name)[:40])
            raise FormError(
                400,
                "invalid_form",
                f"Unexpected field '{shown}': the spawn form sends only 'profile', 'gpus' and 'queue'.",
            )
    slug = _single(options, "profile")
    if not isinstance(slug, str) or not slug:
        raise FormError(400, "invalid_form", "Choose a profile.")
    if len(slug) > MAX_VALUE_LENGTH:
        raise FormError(
            400,
            "invalid_form",
            f"The profile name is longer than {MAX_VALUE_LENGTH} characters; choose one of the listed profiles.",
        )
    row = next((r for r in rows if r["slug"] == slug), None)
    if row is None:
        raise FormError(
            400,
            "unknown_profile",
            f"There is no profile '{html.escape(slug)}'; reload the page and choose one listed.",
        )
    gpus = _single(options, "gpus")
    if gpus is not None and gpus != "":
        text = str(gpus)
        if isinstance(gpus, bool) or not re.fullmatch(r"[0-9]{1,3}", text):
            raise FormError(400, "invalid_form", "'gpus' must be a whole number of GPUs.")
        if int(text) != row["gpus"]:
            raise FormError(
                400,
                "invalid_form",
                f"Profile '{row['display_name']}' gives {row['gpus']} GPUs, not {int(text)}.",
            )
    if row.get("reason_code"):
        code = row["reason_code"]
        if may_queue and wants_queue(options) and code in QUEUEABLE_REASONS:
            return row
        raise FormError(STATUS_OF_REASON.get(code, 409), code, row["disabled_reason"])
    return row


def render_form(doc: Mapping, events_url: str, snapshot_url: str) -> str:
    """The HTML of the form for one user's snapshot document (cards: ``spawn_cards``)."""
    cards = group_cards(doc)
    selected = selected_slug(cards)
    rows = [row for card in cards for row in card.choices]
    # Element ids for labels and descriptions: slugs come from config and need not be ids.
    ids = {row["slug"]: f"mlops-gpu-choice-{i}" for i, row in enumerate(rows)}
    ids.update({card.key: f"mlops-gpu-card-{i}" for i, card in enumerate(cards)})
    script = (HERE / "static" / "gpu_form.js").read_text()
    queueing = bool(doc.get("queueing"))
    return _ENV.get_template("gpu_form.html").render(
        doc=doc,
        cards=cards,
        ids=ids,
        selected=selected,
        selected_gpus=next((row["gpus"] for row in rows if row["slug"] == selected), ""),
        # With Kueue, a choice whose GPUs are only taken stays open: it waits in line.
        queueing=queueing,
        waits={row["slug"] for row in rows if queueing and row.get("reason_code") in QUEUEABLE_REASONS},
        script=script,
        # Inside <script>: JSON with "</" escaped cannot close the element.
        config=json.dumps(
            {
                "events": events_url,
                "snapshot": snapshot_url,
                "version": doc["version"],
                "queueable": sorted(QUEUEABLE_REASONS) if queueing else [],
            }
        ).replace("</", "<\\/"),
    )
