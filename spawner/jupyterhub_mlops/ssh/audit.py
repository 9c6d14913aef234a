"""The audit trail: one JSON line per login attempt and per channel.

Lines go to the ``jupyterhub_mlops.ssh.audit`` logger, which the gateway
application routes to stderr and optionally to a file. Secrets (tokens,
passwords) are never passed here; login names are escaped and truncated.
"""

from __future__ import annotations

import datetime
import json
import logging

audit_log = logging.getLogger("jupyterhub_mlops.ssh.audit")


def audit_line(event: str, **fields) -> str:
    """The JSON text of one audit record (pure: no I/O)."""
    record = {
        "ts": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
        "event": event,
    }
    record.update({k: v for k, v in fields.items() if v is not None})
    return json.dumps(record, sort_keys=False, ensure_ascii=True)


def audit(event: str, **fields) -> None:
    """Write one audit record. ``event`` is ``login`` or ``channel``."""
    audit_log.info(audit_line(event, **fields))
