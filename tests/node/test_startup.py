"""Start-up cost: the node process must not load modules it never uses (aiohttp's HTTP client).

The API tests exercise the server loaded this way through real `nomos-node` processes.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from nomos_node import aiohttp_server_only
assert aiohttp_server_only.install()
import nomos_node.node
from aiohttp import web
loaded = sorted(m for m in sys.modules if m.startswith(("aiohttp.client", "aiohttp.connector", "aiohttp.cookiejar")))
print(",".join(loaded) or "none", web.Application.__name__)
"""


def test_node_imports_skip_the_aiohttp_client() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    # client_exceptions is imported by the server's websocket module; the client itself must not be
    assert out.stdout.split() == ["aiohttp.client_exceptions", "Application"], out.stdout + out.stderr


def test_install_is_a_no_op_once_aiohttp_is_loaded() -> None:
    probe = "import aiohttp, sys\nfrom nomos_node import aiohttp_server_only\nprint(aiohttp_server_only.install())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
