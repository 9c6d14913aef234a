"""``GroupDirectory``: who is in a JupyterHub group, read from the Hub API.

Group quotas (``GpuProfiles.group_gpu_quotas``) limit what all members of a
group hold together, so the availability service must know every member,
not only the groups of the user asking. The Hub is the one place that knows:
``GET {hub api}/groups/<name>`` with the service's own token (scope
``read:groups``). Answers are cached for ``ttl`` seconds for the spawn page
and its event stream; a reservation asks afresh (``max_age=0``), so a quota
is enforced on current membership. Only groups that have a quota are ever
looked up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from urllib.parse import quote

from mlops_contract.labels import label_value
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger(__name__)


class GroupDirectory:
    def __init__(self, api_url: str, token: str, *, ttl: float = 30, timeout: float = 10):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.ttl = ttl
        self.timeout = timeout
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(self, groups: Iterable[str], max_age: float | None = None) -> dict[str, frozenset[str] | None]:
        """group -> owner label values of its members (see ``mlops_contract.labels.label_value``).

        A group the Hub does not know has no members. When the Hub cannot be
        asked, the last answer is used if there is one, else None (unknown:
        the caller must not grant GPUs against that group's quota).
        """
        max_age = self.ttl if max_age is None else max_age
        out: dict[str, frozenset[str] | None] = {}
        for group in groups:
            cached = self._cache.get(group)
            if cached is not None and time.monotonic() - cached[0] <= max_age:
                out[group] = cached[1]
                continue
            fresh = await self._fetch(group)
            if fresh is not None:
                self._cache[group] = (time.monotonic(), fresh)
                out[group] = fresh
            else:
                out[group] = cached[1] if cached is not None else None
        return out

    async def _fetch(self, group: str) -> frozenset[str] | None:
        request = HTTPRequest(
            f"{self.api_url}/groups/{quote(group, safe='')}",
            headers={"Authorization": f"token {self.token}"},
            request_timeout=self.timeout,
            connect_timeout=self.timeout,
        )
        try:
            resp = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            log.warning("members of group %r: the Hub API is unreachable (%s)", group, exc)
            return None
        if resp.code == 404:
            return frozenset()
        if resp.code != 200:
            # 403: the service's token lacks read:groups (see configure_hub).
            log.error("members of group %r: the Hub API answered %s", group, resp.code)
            return None
        try:
            users = json.loads(resp.body).get("users") or []
        except (ValueError, AttributeError):
            log.error("members of group %r: the Hub API answered something not JSON", group)
            return None
        return frozenset(label_value(u) for u in users if isinstance(u, str))
