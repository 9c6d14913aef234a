"""The availability service: GPU inventory + reservations behind a JupyterHub-authenticated API.

- ``app``: the traitlets Application JupyterHub runs, and ``configure_hub``.
- ``state``: ``Availability``, the answers (cached per version).
- ``reservations``: ``ReservationBook``.
- ``handlers``: the tornado routes (JSON snapshot, SSE, reservations, metrics).
"""

from .app import SERVICE_NAME, SPAWNER_SERVICE_NAME, AvailabilityService, configure_hub

__all__ = ["SERVICE_NAME", "SPAWNER_SERVICE_NAME", "AvailabilityService", "configure_hub"]
