"""The reference node's image, built locally from this checkout (no registry): the project and its
dependencies installed from a wheelhouse built on the host (containers cannot reach PyPI), on the shared base
image (`runners/shared/images.py`). The dependency wheels and the project wheel are separate layers, so a
code change only rebuilds the last small layer. The image is labelled with a hash of its sources and rebuilt
when they change.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from nomos_testing import settings
from nomos_testing.errors import PrerequisiteError
from nomos_testing.runners.shared.docker import LABEL_PREFIX, DockerCommandError, image_labels, run
from nomos_testing.runners.shared.images import (
    BUILD_TIMEOUT_S,
    ORIGIN_LABEL,
    Log,
    docker_build,
    ensure_base_image,
    project_version,
    repo_root,
    stderr_log,
)

NODE_IMAGE_REPOSITORY = "nomos-testing-node"

SOURCE_HASH_LABEL = f"{LABEL_PREFIX}.source-hash"

KZG_LABEL = f"{LABEL_PREFIX}.kzg-params"

# Where the image holds the KZG parameters when the build found them (see `_stage_kzg_params`).
KZG_PARAMS_IN_IMAGE = "/opt/nomos-kzg/kzgrs_test_params"


def default_node_tag() -> str:
    return f"{NODE_IMAGE_REPOSITORY}:{project_version()}"

def node_image_tag() -> str:
    return settings.raw("NOMOS_TESTNET_IMAGE") or default_node_tag()

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
    """The KZG parameters file to bake in (DA): NOMOS_KZGRS_PARAMS_PATH (a file, or a directory holding
    `kzgrs_test_params`), else `<repo>/assets/kzgrs_test_params/kzgrs_test_params` (`nomos-testing setup kzg`).
    The image then carries it at KZG_PARAMS_IN_IMAGE (label `kzg-params=present`) and its containers get
    NOMOS_KZGRS_PARAMS_PATH pointing there; without one the label says `absent` and nothing is faked."""
    from nomos_testing.kzg import existing_params

    return existing_params()

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
    docker_build(context, tag, build_args={"BASE_IMAGE": base}, labels={
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
