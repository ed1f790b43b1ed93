"""Build the node and Prometheus images locally — no container registry needed.

Base image: the official Python image when it can be pulled, else a Debian bookworm base made once with
`debootstrap --variant=minbase` and `docker import`, then reused (its labels say how it was made).
Node image: the project and its dependencies are installed from a wheelhouse built on the host
(containers cannot reach PyPI). The dependency wheels and the project wheel are separate layers, so a
code change only rebuilds the last small layer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from nomos_testing import settings
from nomos_testing.errors import PrerequisiteError
from nomos_testing.runners.compose.docker import (
    LABEL_PREFIX,
    DockerCommandError,
    image_exists,
    image_labels,
    run,
)

NODE_IMAGE_REPOSITORY = "nomos-testing-node"
PROMETHEUS_IMAGE_REPOSITORY = "nomos-testing-prometheus"
BASE_IMAGE = "nomos-testing-base:bookworm"
OFFICIAL_PYTHON_IMAGE = "python:3.11-slim-bookworm"
OFFICIAL_PROMETHEUS_IMAGE = "prom/prometheus:v2.53.0"
PULL_TIMEOUT_S = 20.0
BUILD_TIMEOUT_S = 900.0

ORIGIN_LABEL = f"{LABEL_PREFIX}.origin"
SOURCE_HASH_LABEL = f"{LABEL_PREFIX}.source-hash"
KZG_LABEL = f"{LABEL_PREFIX}.kzg-params"
# Where the image holds the KZG parameters when the build found them (see `_stage_kzg_params`).
KZG_PARAMS_IN_IMAGE = "/opt/nomos-kzg/kzgrs_test_params"

Log = Callable[[str], None]


def stderr_log(message: str) -> None:
    print(f"[image] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- repository and versions

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


def default_node_tag() -> str:
    version = read_versions().get("NOMOS_TESTING_VERSION")
    if not version:
        raise PrerequisiteError("versions.env has no NOMOS_TESTING_VERSION", "add NOMOS_TESTING_VERSION=<x.y.z>")
    return f"{NODE_IMAGE_REPOSITORY}:{version}"


def node_image_tag() -> str:
    return settings.raw("NOMOS_TESTNET_IMAGE") or default_node_tag()


def prometheus_image_tag() -> str:
    return f"{PROMETHEUS_IMAGE_REPOSITORY}:{default_node_tag().rsplit(':', 1)[1]}"


def source_hash(root: Path | None = None) -> str:
    """Hash of everything that goes into the node image: a changed hash means the image is stale."""
    root = root or repo_root()
    digest = hashlib.sha256()
    files = [root / "pyproject.toml", root / "versions.env"]
    files += sorted(p for p in (root / "src").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p))
    files += sorted(p for p in (root / "docker" / "node").rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    kzg = _kzg_params_source()
    if kzg is not None:
        digest.update(b"kzg")
        digest.update(kzg.read_bytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- base image

def _pull(image: str, log: Log) -> bool:
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
        _docker_build(Path(context), tag, labels=labels, build_args={})


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
    if _pull(OFFICIAL_PYTHON_IMAGE, log):
        _retag_with_labels(OFFICIAL_PYTHON_IMAGE, BASE_IMAGE, {ORIGIN_LABEL: f"pulled {OFFICIAL_PYTHON_IMAGE}"})
    else:
        _debootstrap_base(log)
    return BASE_IMAGE


# ---------------------------------------------------------------- wheelhouse and build context

def _project_dependencies(root: Path) -> list[str]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return list(project.get("dependencies", []))


def _pip(*args: str, timeout: float = BUILD_TIMEOUT_S) -> None:
    try:
        run([sys.executable, "-m", "pip", *args], timeout=timeout)
    except DockerCommandError as exc:
        raise PrerequisiteError(f"building the wheelhouse failed: {exc}",
                                "the host needs pip with access to PyPI (or a warm pip cache)") from exc


def _dependency_wheels(root: Path, log: Log) -> Path:
    """Wheels of every runtime dependency, cached on the host by the dependency list's hash."""
    requirements = "\n".join(_project_dependencies(root)) + "\n"
    key = hashlib.sha256(requirements.encode()).hexdigest()[:12]
    wheelhouse = root / ".wheelhouse" / f"deps-{key}"
    if (wheelhouse / "requirements.txt").is_file():
        return wheelhouse
    log(f"building the dependency wheelhouse {wheelhouse}")
    partial = wheelhouse.with_name(wheelhouse.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "requirements.in").write_text(requirements)
    _pip("wheel", "--quiet", "-r", str(partial / "requirements.in"), "-w", str(partial))
    (partial / "requirements.in").rename(partial / "requirements.txt")
    shutil.rmtree(wheelhouse, ignore_errors=True)
    partial.rename(wheelhouse)
    return wheelhouse


def _project_wheel(root: Path, into: Path) -> None:
    """Build the project wheel from a clean copy, so the shared checkout gets no build/ or egg-info litter."""
    with tempfile.TemporaryDirectory(prefix="nomos-wheel-") as scratch:
        source = Path(scratch) / "src-copy"
        source.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).is_file():
                shutil.copy2(root / name, source / name)
        shutil.copytree(root / "src", source / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
        _pip("wheel", "--quiet", "--no-deps", str(source), "-w", str(into))


def _kzg_params_source() -> Path | None:
    """Hook for the DA issue: the KZG parameters file to bake in, when one has been generated.

    Looks at NOMOS_KZGRS_PARAMS_PATH, then `<repo>/.cache/kzgrs_test_params`. Until DA generates the file,
    the image is built without it (label `kzg-params=absent`); nothing is faked.
    """
    configured = settings.raw("NOMOS_KZGRS_PARAMS_PATH")
    candidates = [Path(configured)] if configured else []
    with contextlib.suppress(PrerequisiteError):
        candidates.append(repo_root() / ".cache" / "kzgrs_test_params")
    return next((path for path in candidates if path.is_file()), None)


def _stage_kzg_params(context: Path) -> bool:
    target = context / "kzg"
    target.mkdir()
    source = _kzg_params_source()
    if source is None:
        (target / "ABSENT").write_text("no kzgrs_test_params were found at build time\n")
        return False
    shutil.copy2(source, target / "kzgrs_test_params")
    return True


def _stage_node_context(root: Path, context: Path, log: Log) -> bool:
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    for item in (root / "docker" / "node").iterdir():
        shutil.copy2(item, context / item.name)
    shutil.copytree(_dependency_wheels(root, log), context / "deps")
    (context / "project").mkdir()
    _project_wheel(root, context / "project")
    return _stage_kzg_params(context)


def _docker_build(context: Path, tag: str, *, labels: dict[str, str], build_args: dict[str, str]) -> None:
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


# ---------------------------------------------------------------- public API

def build_node_image(tag: str | None = None, force: bool = False, log: Log = stderr_log) -> str:
    """Build the node image (tag from versions.env, or NOMOS_TESTNET_IMAGE) and return its tag.

    Without `force`, an image of the same tag built from the same sources is reused as is.
    """
    root = repo_root()
    tag = tag or node_image_tag()
    wanted = source_hash(root)
    labels = image_labels(tag)
    if not force and labels is not None and labels.get(SOURCE_HASH_LABEL) == wanted:
        log(f"{tag} is up to date (source {wanted})")
        return tag
    started = time.monotonic()
    base = ensure_base_image(log)
    context = root / ".cache" / "image-context" / "node"
    has_kzg = _stage_node_context(root, context, log)
    log(f"building {tag} from {base}" + ("" if has_kzg else " (no KZG parameters found: DA workloads unavailable)"))
    _docker_build(context, tag, build_args={"BASE_IMAGE": base}, labels={
        ORIGIN_LABEL: "nomos-testing image build",
        SOURCE_HASH_LABEL: wanted,
        KZG_LABEL: "present" if has_kzg else "absent",
        f"{LABEL_PREFIX}.base-image": base,
    })
    log(f"{tag} built in {time.monotonic() - started:.1f} s")
    return tag


def node_image_is_current(tag: str | None = None) -> bool:
    labels = image_labels(tag or node_image_tag())
    return labels is not None and labels.get(SOURCE_HASH_LABEL) == source_hash()


def ensure_node_image(log: Log = stderr_log) -> str:
    """The node image to run: built when missing; rebuilt when we built it from older sources.
    An image we did not build (no source label, e.g. a pinned NOMOS_TESTNET_IMAGE) is used as it is."""
    tag = node_image_tag()
    labels = image_labels(tag)
    if labels is not None and SOURCE_HASH_LABEL not in labels:
        return tag
    try:
        repo_root()
    except PrerequisiteError:
        if labels is not None:  # installed without a checkout: nothing to rebuild from, use what is there
            return tag
        raise
    return build_node_image(tag, log=log)


def build_prometheus_image(force: bool = False, log: Log = stderr_log) -> str:
    """Prometheus: the official image when pullable, else Debian's `prometheus` package on the local base."""
    tag = prometheus_image_tag()
    if not force and image_exists(tag):
        return tag
    started = time.monotonic()
    if _pull(OFFICIAL_PROMETHEUS_IMAGE, log):
        _retag_with_labels(OFFICIAL_PROMETHEUS_IMAGE, tag, {ORIGIN_LABEL: f"pulled {OFFICIAL_PROMETHEUS_IMAGE}"})
        return tag
    base = ensure_base_image(log)
    context = repo_root() / "docker" / "prometheus"
    _docker_build(context, tag, build_args={"BASE_IMAGE": base},
                  labels={ORIGIN_LABEL: "debian prometheus package", f"{LABEL_PREFIX}.base-image": base})
    log(f"{tag} built in {time.monotonic() - started:.1f} s")
    return tag


def ensure_prometheus_image(log: Log = stderr_log) -> str:
    return build_prometheus_image(force=False, log=log)
