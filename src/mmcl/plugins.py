"""Registrations from outside mmcl: modules that add worlds, methods, eval tasks, losses, data
formats or teachers by registering them, loaded before a command runs.

mmcl's registries are filled as their modules are imported, and config choices are read from
them. A plugin is any importable module that registers more entries (`@METHODS.register(...)`,
`@eval_task(...)`, `WORLDS.register(...)(World(...))`). The CLI imports every module named in
`MMCL_PLUGINS` (comma-separated) and every entry point of installed packages in the
`mmcl.plugins` group, so `mmcl train` and `mmcl eval` accept the new names like built-in ones.
From Python, importing the module is enough.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from mmcl.errors import MMCLError

PLUGINS_ENV = "MMCL_PLUGINS"
ENTRY_POINT_GROUP = "mmcl.plugins"


def env_plugins() -> list[str]:
    """Module names listed in MMCL_PLUGINS."""
    return [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]


def load_plugins() -> list[str]:
    """Import every plugin module; returns their names. A plugin that fails to import stops
    the command with an error that names it and where it was listed."""
    loaded = []
    for name in env_plugins():
        try:
            importlib.import_module(name)
        except Exception as error:
            raise MMCLError(
                f"{PLUGINS_ENV} names module {name!r}, which failed to import "
                f"({type(error).__name__}: {error}); fix it, put its folder on PYTHONPATH, or "
                f"remove it from {PLUGINS_ENV}"
            ) from error
        loaded.append(name)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            point.load()
        except Exception as error:
            raise MMCLError(
                f"entry point {point.name!r} ({point.value}) of group {ENTRY_POINT_GROUP!r} failed "
                f"to import ({type(error).__name__}: {error}); fix or uninstall the package "
                "that declares it"
            ) from error
        loaded.append(point.value)
    return loaded
