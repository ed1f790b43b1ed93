"""Load aiohttp's server half without its client half, to make node start-up cheaper.

``aiohttp/__init__.py`` eagerly imports the whole HTTP client (connector, cookie jar, SSL contexts built at
import time, …): about a third of the node's start-up CPU, and the node never makes an HTTP request. The node
process (and only it: :func:`nomos_node.cli.run`) registers a bare ``aiohttp`` package object whose
submodules load from the installed package, so ``from aiohttp import web`` imports the server modules alone.
Anything else would get the full package: this is a no-op once aiohttp has been imported.
"""

from __future__ import annotations

import re
import sys
import types
from importlib.machinery import PathFinder
from pathlib import Path


def install() -> bool:
    """Register the bare package; True when installed, False when aiohttp is already loaded or absent."""
    if "aiohttp" in sys.modules:
        return False
    spec = PathFinder.find_spec("aiohttp")  # importlib.util would cost ~5 ms more
    if spec is None or spec.submodule_search_locations is None:
        return False
    package = types.ModuleType("aiohttp", "aiohttp (server modules only, see nomos_node.aiohttp_server_only)")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = "aiohttp"
    # aiohttp.http reads the version; importlib.metadata would cost more than it saves (~30 ms)
    found = re.search(r'^__version__ = "([^"]+)"', Path(spec.origin or "").read_text(), re.MULTILINE)
    package.__version__ = found.group(1) if found else "3"  # type: ignore[attr-defined]
    sys.modules["aiohttp"] = package
    return True
