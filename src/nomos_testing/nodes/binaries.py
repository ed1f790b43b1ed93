"""Find a node executable on the host: an environment variable naming it, then PATH, then next to the running
Python (a venv's console scripts are found even when the venv is not activated)."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from nomos_testing import settings


@dataclass(frozen=True)
class Resolution:
    binary: str          # the executable's name, e.g. nomos-node
    path: Path | None
    source: str          # where it was found, or why not
    remedy: str = ""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binary(binary: str, env_name: str, install_hint: str) -> Resolution:
    configured = settings.raw(env_name)
    if configured is not None:
        candidate = Path(configured) if os.sep in configured else Path(shutil.which(configured) or configured)
        if _executable(candidate):
            return Resolution(binary, candidate.resolve(), f"{env_name}={configured}")
        return Resolution(binary, None, f"{env_name}={configured} is not an executable file",
                          f"point {env_name} at the {binary} executable, or unset it to use `{binary}` from PATH")
    on_path = shutil.which(binary)
    if on_path:
        return Resolution(binary, Path(on_path), "PATH")
    beside_python = Path(sys.executable).parent / binary
    if _executable(beside_python):
        return Resolution(binary, beside_python, f"next to {sys.executable}")
    where = f"{env_name} unset, not on PATH, not in {beside_python.parent}"
    return Resolution(binary, None, f"`{binary}` not found ({where})", f"{install_hint} or set {env_name}")
