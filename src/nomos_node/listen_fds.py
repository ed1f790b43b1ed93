"""NOMOS_LISTEN_FDS: listening sockets handed over by the process that started the node.

`NOMOS_LISTEN_FDS=api=3,testing_api=4,network=5` (any subset of the three names) makes the node serve a
listener on that inherited file descriptor instead of binding the config's `listen` address; a listener not
named binds `listen` as usual. The variable takes precedence over the config's `listen_fd`, so a config file
stays free of descriptor numbers and can be reused by hand. Every named fd must be an open, listening TCP
socket: anything else is a config error (exit 2) naming the variable, checked before the node starts.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import stat
from collections.abc import Mapping

from nomos_node.config import MAX_FD, ConfigError, NodeConfig

VARIABLE = "NOMOS_LISTEN_FDS"
LISTENERS = ("api", "testing_api", "network")
EXAMPLE = f"{VARIABLE}=api=3,testing_api=4,network=5"
_FORMAT = (f"comma-separated name=fd pairs with names {', '.join(LISTENERS)} (e.g. {EXAMPLE}; "
           "unset it to bind the config's listen addresses)")


def _error(expected: str, got: str) -> ConfigError:
    return ConfigError(VARIABLE, expected, got)


def _parse_item(item: str) -> tuple[str, int]:
    name, sep, number = (part.strip() for part in item.partition("="))
    if not sep or not number.isdigit() or int(number) > MAX_FD:
        raise _error(_FORMAT, repr(item))
    if name not in LISTENERS:
        raise _error(_FORMAT, f"the unknown name {name!r} in {item!r}")
    return name, int(number)


def parse_listen_fds(value: str) -> dict[str, int]:
    """`api=3,network=5` → {"api": 3, "network": 5}; syntax only (see `check_listening_socket`)."""
    fds: dict[str, int] = {}
    for item in value.split(","):
        if not item.strip():
            raise _error(_FORMAT, repr(value))
        name, fd = _parse_item(item)
        if name in fds:
            raise _error("each name at most once", f"{name} twice in {value!r}")
        other = next((known for known, known_fd in fds.items() if known_fd == fd), None)
        if other is not None:
            raise _error("a different socket for each listener", f"fd {fd} for both {other} and {name}")
        fds[name] = fd
    return fds


def listening_socket_problem(fd: int) -> str | None:
    """Why `fd` is not an open, listening TCP socket of this process, or None when it is one."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        return "a descriptor that is not open" if exc.errno == errno.EBADF else f"a descriptor: {exc.strerror}"
    if not stat.S_ISSOCK(mode):
        return "a descriptor that is not a socket"
    sock = socket.socket(fileno=fd)  # borrowed: detached below, never closed here
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
            return "a socket that is not TCP"
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return "a TCP socket that is not listening (call listen() on it before starting the node)"
        return None
    finally:
        sock.detach()


def listen_fds_from_env(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """The listeners NOMOS_LISTEN_FDS hands over, each checked to be a listening TCP socket; {} when unset."""
    value = (os.environ if environ is None else environ).get(VARIABLE, "")
    if not value.strip():
        return {}
    fds = parse_listen_fds(value)
    for name, fd in fds.items():
        problem = listening_socket_problem(fd)
        if problem is not None:
            raise _error(f"{name}={fd} to be a listening TCP socket the node inherited (pass it to the node, e.g. "
                         f"with subprocess pass_fds, or leave {name} out to bind {name}.listen)",
                         f"fd {fd}: {problem}")
    return fds


def apply_listen_fds(config: NodeConfig, fds: Mapping[str, int]) -> NodeConfig:
    """`config` with the handed-over fds as the listeners' `listen_fd` (over whatever the file said)."""
    sections = {name: dataclasses.replace(getattr(config, name), listen_fd=fd) for name, fd in fds.items()}
    return dataclasses.replace(config, **sections)
