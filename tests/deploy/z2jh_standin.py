"""A stand-in for Zero-to-JupyterHub's ``z2jh`` module, reading the values file.

In the hub pod, ``hub.extraConfig`` snippets run inside the chart's
jupyterhub_config.py, where ``z2jh`` reads the values from a mounted Secret.
The tests run the snippets the same way with this module installed under that
name, so a snippet that imports ``get_config`` works here as it does there.
"""

from __future__ import annotations

import sys
import types


def install(values: dict) -> types.ModuleType:
    """Register a ``z2jh`` module answering from ``values``; return it."""

    def get_config(key: str, default=None):
        value = values
        for level in key.split("."):
            if not isinstance(value, dict) or level not in value:
                return default
            value = value[level]
        return value

    def get_name(name: str) -> str:
        return name  # the chart's default full names for a release without prefix

    def get_secret_value(key: str, default: str | None = None) -> str:
        # The chart generates an API token for every declared hub service.
        parts = key.split(".")
        if (len(parts) == 4 and parts[:2] == ["hub", "services"] and parts[3] == "apiToken"
                and parts[2] in (get_config("hub.services") or {})):
            return f"stand-in-token-of-{parts[2]}"
        if default is None:
            raise KeyError(f"{key} is not in the stand-in's secret")
        return default

    def set_config_if_not_none(cparent, name: str, key: str) -> None:
        data = get_config(key)
        if data is not None:
            setattr(cparent, name, data)

    module = types.ModuleType("z2jh")
    module.get_config = get_config
    module.get_name = get_name
    module.get_secret_value = get_secret_value
    module.set_config_if_not_none = set_config_if_not_none
    sys.modules["z2jh"] = module
    return module
