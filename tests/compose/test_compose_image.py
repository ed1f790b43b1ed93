"""Images built with no registry: a reused local base, the project installed from a host wheelhouse,
layer caching that keeps a rebuild after a code change quick."""

from __future__ import annotations

import json
import subprocess
import time

from nomos_testing.nodes.reference import image
from nomos_testing.runners.shared import images as shared_images
from nomos_testing.runners.shared.docker import image_labels


def _docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def _layers(tag: str) -> list[str]:
    return json.loads(_docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", tag).stdout)


def test_images_carry_how_they_were_made(images: dict[str, str]) -> None:
    base = image_labels(shared_images.BASE_IMAGE)
    assert base is not None and base[shared_images.ORIGIN_LABEL] in ("debootstrap-bookworm-minbase",
                                                             f"pulled {shared_images.OFFICIAL_PYTHON_IMAGE}")
    for _ in range(3):  # other work may edit the checkout meanwhile: the label must catch up with the sources
        image.build_node_image()
        node = image_labels(images["node"])
        assert node is not None
        if node[image.SOURCE_HASH_LABEL] == image.source_hash():
            break
    assert node[image.SOURCE_HASH_LABEL] == image.source_hash()
    assert node[image.KZG_LABEL] == ("present" if image._kzg_params_source() else "absent")
    assert images["node"] == image.node_image_tag()
    assert images["node"].endswith(":" + shared_images.read_versions()["NOMOS_TESTING_VERSION"])


def test_node_image_has_both_node_commands_and_the_framework(images: dict[str, str]) -> None:
    done = _docker("run", "--rm", "--entrypoint", "sh", images["node"], "-c",
                   "command -v nomos-node nomos-executor && python3 -c 'import nomos_node, nomos_testing, aiohttp'")
    assert done.returncode == 0, done.stderr
    assert "/opt/nomos/bin/nomos-node" in done.stdout


def test_missing_config_is_a_clear_error(images: dict[str, str]) -> None:
    done = _docker("run", "--rm", images["node"], "nomos-node", "/etc/nomos/absent.yaml")
    assert done.returncode == 2
    assert "config file /etc/nomos/absent.yaml is not readable" in done.stderr


def test_prometheus_image_runs(images: dict[str, str]) -> None:
    done = _docker("run", "--rm", images["prometheus"], "--version")
    assert done.returncode == 0, done.stderr
    assert "prometheus" in (done.stdout + done.stderr).lower()


def test_rebuild_reuses_the_dependency_layers(images: dict[str, str]) -> None:
    before = _layers(images["node"])
    started = time.monotonic()
    assert image.build_node_image(force=True) == images["node"]
    elapsed = time.monotonic() - started
    after = _layers(images["node"])
    # base + venv + dependency wheels + their install + KZG are unchanged; only the project layers differ
    shared = sum(1 for a, b in zip(before, after, strict=False) if a == b)
    assert shared >= len(before) - 3, f"only {shared} of {len(before)} layers reused"
    assert elapsed < 90, f"a rebuild took {elapsed:.0f} s: layer caching is not working"
    assert image.build_node_image() == images["node"]  # up to date now: no build at all
