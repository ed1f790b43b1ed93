"""The host runner's Prometheus: Debian's `prometheus` binary as one more child process of the run, scraping
every node on its loopback address with the shared scrape config (runners/shared/prometheus.py).

It is a `NodeProcess` carrying the run's marker variables, so teardown, `down` (run-state) and `clean` (marked
processes) stop it exactly like a node; it is not a node, so readiness, `crashed()` and the report ignore it.
Its config and TSDB are under `<run>/prometheus/`, its log is `<run>/logs/prometheus.log`. A node that joins is
scraped after the config is rewritten and Prometheus gets SIGHUP.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from nomos_testing import settings
from nomos_testing.runners.base import Check, NodeEndpoint
from nomos_testing.runners.host.markers import marker_environment
from nomos_testing.runners.host.process import NodeProcess, stop_processes, tail
from nomos_testing.runners.shared.prometheus import ScrapeTarget, write_prometheus_config

NAME = "prometheus"  # its marker name: `clean` lists it as <run id>/prometheus
BINARY = "prometheus"
ENABLE_VARIABLE = "NOMOS_HOST_PROMETHEUS"
INSTALL = "apt-get install prometheus"
READY_TIMEOUT_S = 15.0
SCRAPE_INTERVAL = "1s"  # local and cheap: short test runs still get a point per second
STOP_GRACE_S = 3.0


def binary() -> str | None:
    return shutil.which(BINARY)


def unavailable_reason() -> str | None:
    """Why this machine's host runs have no Prometheus, or None when they have one."""
    if not settings.flag(ENABLE_VARIABLE, default=True):
        return f"{ENABLE_VARIABLE} is false"
    if binary() is None:
        return f"no `{BINARY}` binary on PATH"
    return None


def remedy() -> str:
    return f"{INSTALL} (Debian's package), and leave {ENABLE_VARIABLE} unset or true"


def prometheus_check() -> Check:
    """Optional: without it a host run works, with no metrics/ and no `metric` expectations."""
    try:
        reason = unavailable_reason()
    except Exception as exc:  # a junk NOMOS_HOST_PROMETHEUS; the environment check names it too
        return Check("Prometheus (optional)", False, str(exc), f"set {ENABLE_VARIABLE} to true or false",
                     required=False)
    if reason is None:
        return Check("Prometheus (optional)", True, f"{binary()}: every host run is scraped", required=False)
    return Check("Prometheus (optional)", False,
                 f"{reason}: host runs have no metrics/ and cannot use `metric` expectations",
                 "" if reason.startswith(ENABLE_VARIABLE) else remedy(), required=False)


def scrape_targets(nodes: Iterable[NodeEndpoint]) -> list[ScrapeTarget]:
    return [ScrapeTarget(node.name, node.role.value, urlsplit(node.api_url).netloc) for node in nodes]


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HostPrometheus:
    def __init__(self, process: NodeProcess, url: str) -> None:
        self.process = process
        self.url = url

    @property
    def config_path(self) -> Path:
        return self.process.config_path

    @classmethod
    def spawn(cls, run_id: str, run_dir: Path, owner: str, nodes: Iterable[NodeEndpoint]) -> HostPrometheus:
        found = binary()
        if found is None:
            raise OSError(f"no `{BINARY}` binary on PATH")
        folder = run_dir / "prometheus"
        config = write_prometheus_config(folder / "prometheus.yml", scrape_targets(nodes), SCRAPE_INTERVAL)
        data = folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        port = free_loopback_port()
        process = NodeProcess(
            name=NAME, config_path=config, data_dir=folder, log_path=run_dir / "logs" / "prometheus.log",
            argv=[found, f"--config.file={config}", f"--storage.tsdb.path={data}",
                  f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d"],
            env=marker_environment(run_id, run_dir, owner, NAME))
        process.spawn()
        return cls(process, f"http://127.0.0.1:{port}")

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until /-/ready answers 200; OSError naming the log tail if it exits or never answers."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                if not self.process.alive():
                    raise OSError(f"prometheus exited with code {self.process.returncode()}; last lines of "
                                  f"{self.process.log_path}:\n{tail(self.process.log_path)}")
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with session.get(f"{self.url}/-/ready") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise OSError(f"prometheus did not answer {self.url}/-/ready within {timeout_s:g} s; last lines of "
                      f"{self.process.log_path}:\n{tail(self.process.log_path)}")

    def rescrape(self, nodes: Iterable[NodeEndpoint]) -> None:
        """A node joined: the new scrape config, re-read on SIGHUP."""
        write_prometheus_config(self.config_path, scrape_targets(nodes), SCRAPE_INTERVAL)
        if self.process.alive():
            self.process.send(signal.SIGHUP)

    async def stop(self) -> None:
        await stop_processes([self.process], STOP_GRACE_S)

    def remove_data(self) -> None:
        shutil.rmtree(self.process.data_dir / "data", ignore_errors=True)

    def record(self) -> dict[str, Any]:
        return {**self.process.record(), "url": self.url}

    @classmethod
    def adopt(cls, record: Mapping[str, Any]) -> HostPrometheus:
        """The Prometheus of a run another framework process started (`down`, `clean`)."""
        return cls(NodeProcess.adopt(NAME, record), str(record.get("url", "")))
