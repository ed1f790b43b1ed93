"""Network namespaces the fault engine acts in: the host's own, or another one named by a path
(`/proc/PID/ns/net` of a container's process, `/run/netns/NAME` of an `ip netns`).

Commands run there with `nsenter --net=PATH`. Sockets are created there by a short-lived thread that enters
the namespace with setns(2) (Python 3.11 has no os.setns) — a socket stays in the namespace it was created in,
whatever thread uses it later, so the event loop serves it as any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import threading
from dataclasses import dataclass

from nomos_testing.runners.shared.netfaults.base import NetworkFaultError

CLONE_NEWNET = 0x40000000
COMMAND_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Namespace:
    path: str | None = None  # None: the host's (this process's) network namespace
    label: str = "host"

    @classmethod
    def host(cls) -> Namespace:
        return cls()

    @classmethod
    def of_pid(cls, pid: int, label: str = "") -> Namespace:
        return cls(f"/proc/{pid}/ns/net", label or f"pid {pid}")

    @property
    def is_host(self) -> bool:
        return self.path is None

    def command(self, argv: list[str]) -> list[str]:
        return list(argv) if self.path is None else ["nsenter", f"--net={self.path}", "--", *argv]

    async def run(self, argv: list[str], stdin: str | None = None, check: bool = True,
                  timeout_s: float = COMMAND_TIMEOUT_S) -> Result:
        """Run a command in this namespace; a non-zero exit is a NetworkFaultError naming it (when `check`)."""
        full = self.command(argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *full, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise NetworkFaultError(f"cannot run {full[0]}: {exc}", f"install {full[0]}") from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None),
                                              timeout_s)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await proc.wait()
            raise
        result = Result(proc.returncode if proc.returncode is not None else -1, out.decode(errors="replace"),
                        err.decode(errors="replace"))
        if check and result.code != 0:
            where = "" if self.is_host else f" in the network namespace of {self.label}"
            raise NetworkFaultError(f"`{' '.join(argv)}`{where} exited with {result.code}: "
                                    f"{result.stderr.strip()[:400] or result.stdout.strip()[:400]}",
                                    "network faults need root with iptables and ss (run `nomos-testing doctor`)")
        return result

    async def socket(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A new socket in this namespace."""
        if self.path is None:
            return socket.socket(family, kind)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[socket.socket] = loop.create_future()

        def deliver(sock: socket.socket | None, error: BaseException | None) -> None:
            if done.cancelled():
                if sock is not None:
                    sock.close()
            elif error is not None:
                done.set_exception(error)
            else:
                done.set_result(sock)  # type: ignore[arg-type]

        def create() -> None:
            try:
                sock = socket_in(self.path or "", family, kind)
            except BaseException as exc:  # handed to the awaiting task
                loop.call_soon_threadsafe(deliver, None, exc)
            else:
                loop.call_soon_threadsafe(deliver, sock, None)

        threading.Thread(target=create, name="netns-socket", daemon=True).start()
        return await done


def socket_in(path: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """Create a socket in the namespace at `path`. Call it only from a thread that ends afterwards: setns moves
    the calling thread for good."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetworkFaultError(f"cannot open the network namespace {path}: {exc}",
                                "the process owning it is gone (restarted container?), or this is not root") from exc
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NetworkFaultError(f"setns({path}) failed: {os.strerror(errno)}", "network faults need root")
    finally:
        os.close(fd)
    return socket.socket(family, kind)
