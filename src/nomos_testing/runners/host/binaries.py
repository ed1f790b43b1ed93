"""Find the node binaries: `NOMOS_NODE_BIN` / `NOMOS_EXECUTOR_BIN`, then PATH, then next to the running Python
(a venv's console scripts are found even when the venv is not activated)."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from nomos_testing import settings
from nomos_testing.topology.model import Role

ENV_BY_ROLE = {Role.VALIDATOR: "NOMOS_NODE_BIN", Role.EXECUTOR: "NOMOS_EXECUTOR_BIN"}
NAME_BY_ROLE = {Role.VALIDATOR: "nomos-node", Role.EXECUTOR: "nomos-executor"}


@dataclass(frozen=True)
class Resolution:
    role: Role
    path: Path | None
    source: str   # where it was found, or why not
    remedy: str = ""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def resolve(role: Role) -> Resolution:
    env_name = ENV_BY_ROLE[role]
    binary = NAME_BY_ROLE[role]
    configured = settings.raw(env_name)
    if configured is not None:
        candidate = Path(configured) if os.sep in configured else Path(shutil.which(configured) or configured)
        if _executable(candidate):
            return Resolution(role, candidate.resolve(), f"{env_name}={configured}")
        return Resolution(role, None, f"{env_name}={configured} is not an executable file",
                          f"point {env_name} at the {binary} executable, or unset it to use `{binary}` from PATH")
    on_path = shutil.which(binary)
    if on_path:
        return Resolution(role, Path(on_path), "PATH")
    beside_python = Path(sys.executable).parent / binary
    if _executable(beside_python):
        return Resolution(role, beside_python, f"next to {sys.executable}")
    where = f"{env_name} unset, not on PATH, not in {beside_python.parent}"
    return Resolution(role, None, f"`{binary}` not found ({where})",
                      f"install the project (`make venv`, or `pip install -e .`) or set {env_name}")
