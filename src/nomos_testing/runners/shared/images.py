"""Build images locally — no container registry needed — for every runner that runs containers.

Base image: the official Python image when it can be pulled, else a Debian bookworm base made once with
`debootstrap --variant=minbase` and `docker import`, then reused (its labels say how it was made).
Prometheus: the official image when pullable, else Debian's `prometheus` package on the local base.
The node image is the node adapter's (`nodes/reference/image.py` for the reference node), built on these.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nomos_testing import settings
from nomos_testing.errors import PrerequisiteError
from nomos_testing.runners.shared.docker import LABEL_PREFIX, DockerCommandError, image_exists, run

PROMETHEUS_IMAGE_REPOSITORY = "nomos-testing-prometheus"

BASE_IMAGE = "nomos-testing-base:bookworm"

OFFICIAL_PYTHON_IMAGE = "python:3.11-slim-bookworm"

OFFICIAL_PROMETHEUS_IMAGE = "prom/prometheus:v2.53.0"

PULL_TIMEOUT_S = 20.0

BUILD_TIMEOUT_S = 900.0

ORIGIN_LABEL = f"{LABEL_PREFIX}.origin"

Log = Callable[[str], None]


def stderr_log(message: str) -> None:
    print(f"[image] {message}", file=sys.stderr, flush=True)

def repo_root() -> Path:
    """The checkout holding versions.env, pyproject.toml and docker/ (the image is built from source)."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "versions.env").is_file() and (candidate / "pyproject.toml").is_file():
                return candidate
    raise PrerequisiteError("cannot find the repository root (a directory with versions.env and pyproject.toml)",
                            "run from inside the nomos-testing checkout")

def read_versions(root: Path | None = None) -> dict[str, str]:
    path = (root or repo_root()) / "versions.env"
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            raise PrerequisiteError(f"{path}:{number}: expected KEY=VALUE, got {stripped!r}",
                                    "fix the line in versions.env")
        values[key.strip()] = value.strip().strip('"')
    return values

def project_version() -> str:
    """NOMOS_TESTING_VERSION from versions.env: the tag of the images this checkout builds."""
    version = read_versions().get("NOMOS_TESTING_VERSION")
    if not version:
        raise PrerequisiteError("versions.env has no NOMOS_TESTING_VERSION", "add NOMOS_TESTING_VERSION=<x.y.z>")
    return version


def prometheus_image_tag() -> str:
    return f"{PROMETHEUS_IMAGE_REPOSITORY}:{project_version()}"

def pull(image: str, log: Log) -> bool:
    try:
        run(["docker", "pull", image], timeout=PULL_TIMEOUT_S)
        return True
    except DockerCommandError as exc:
        log(f"cannot pull {image} ({str(exc).splitlines()[-1][:160]}); falling back to a local build")
        return False

def _retag_with_labels(source: str, tag: str, labels: dict[str, str]) -> None:
    """Give a pulled image our tag plus labels (a one-line build, instant)."""
    with tempfile.TemporaryDirectory(prefix="nomos-retag-") as context:
        (Path(context) / "Dockerfile").write_text(f"FROM {source}\n")
        docker_build(Path(context), tag, labels=labels, build_args={})

def debootstrap_available() -> bool:
    return shutil.which("debootstrap") is not None

def _debootstrap_base(log: Log) -> None:
    if not debootstrap_available():
        raise PrerequisiteError("no base image: the official Python image cannot be pulled and debootstrap is missing",
                                "apt-get install -y debootstrap (or make python:3.11-slim-bookworm pullable)")
    mirror = settings.raw("NOMOS_IMAGE_DEBIAN_MIRROR") or "http://deb.debian.org/debian"
    started = time.monotonic()
    log(f"building the local base image {BASE_IMAGE} with debootstrap from {mirror} (once; about a minute)")
    with tempfile.TemporaryDirectory(prefix="nomos-debootstrap-") as rootfs:
        argv = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                "bookworm", rootfs, mirror]
        try:
            run(argv, timeout=BUILD_TIMEOUT_S)
        except DockerCommandError as exc:
            raise PrerequisiteError(f"debootstrap failed: {exc}",
                                    "check that the Debian mirror is reachable (NOMOS_IMAGE_DEBIAN_MIRROR)") from exc
        for leftover in Path(rootfs, "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        changes = [f"LABEL {ORIGIN_LABEL}=debootstrap-bookworm-minbase",
                   f"LABEL {LABEL_PREFIX}.debian-mirror={mirror}",
                   "ENV LANG=C.UTF-8", "CMD [\"python3\"]"]
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(["docker", "import", *[a for c in changes for a in ("--change", c)], "-",
                                       BASE_IMAGE], stdin=tar.stdout, capture_output=True, text=True,
                                      timeout=BUILD_TIMEOUT_S, check=False)
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
        if imported.returncode != 0:
            raise PrerequisiteError(f"docker import of the debootstrap base failed: {imported.stderr.strip()}",
                                    "check `docker info` and free disk space")
    log(f"base image {BASE_IMAGE} ready in {time.monotonic() - started:.0f} s")

def ensure_base_image(log: Log = stderr_log) -> str:
    """The local base image (Debian bookworm + python3), made once and reused."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    if pull(OFFICIAL_PYTHON_IMAGE, log):
        _retag_with_labels(OFFICIAL_PYTHON_IMAGE, BASE_IMAGE, {ORIGIN_LABEL: f"pulled {OFFICIAL_PYTHON_IMAGE}"})
    else:
        _debootstrap_base(log)
    return BASE_IMAGE

def docker_build(context: Path, tag: str, *, labels: dict[str, str], build_args: dict[str, str]) -> None:
    argv = ["docker", "build", "--tag", tag]
    argv += [a for key, value in labels.items() for a in ("--label", f"{key}={value}")]
    argv += [a for key, value in build_args.items() for a in ("--build-arg", f"{key}={value}")]
    argv.append(str(context))
    # The classic builder is present in every engine/CLI combination; BuildKit needs the buildx plugin.
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    try:
        run(argv, timeout=BUILD_TIMEOUT_S, env=env)
    except DockerCommandError as exc:
        raise PrerequisiteError(f"docker build of {tag} failed: {exc}",
                                "read the build output above; `docker info` must work") from exc

def build_prometheus_image(force: bool = False, log: Log = stderr_log) -> str:
    """Prometheus: the official image when pullable, else Debian's `prometheus` package on the local base."""
    tag = prometheus_image_tag()
    if not force and image_exists(tag):
        return tag
    started = time.monotonic()
    if pull(OFFICIAL_PROMETHEUS_IMAGE, log):
        _retag_with_labels(OFFICIAL_PROMETHEUS_IMAGE, tag, {ORIGIN_LABEL: f"pulled {OFFICIAL_PROMETHEUS_IMAGE}"})
        return tag
    base = ensure_base_image(log)
    context = repo_root() / "docker" / "prometheus"
    docker_build(context, tag, build_args={"BASE_IMAGE": base},
                  labels={ORIGIN_LABEL: "debian prometheus package", f"{LABEL_PREFIX}.base-image": base})
    log(f"{tag} built in {time.monotonic() - started:.1f} s")
    return tag

def ensure_prometheus_image(log: Log = stderr_log) -> str:
    return build_prometheus_image(force=False, log=log)
