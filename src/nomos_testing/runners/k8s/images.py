"""Getting the locally built images into a local cluster: which tool a kubeconfig context belongs to (kind,
minikube, k3d, by their context naming) and the command that loads an image into it (`nomos-testing image load`
runs it when the tool is installed). A remote cluster pulls from a registry instead (docs/runners.md)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LocalCluster:
    tool: str        # kind | minikube | k3d
    cluster: str     # the tool's name of the cluster / profile

    def load_command(self, image: str) -> list[str]:
        if self.tool == "kind":
            return ["kind", "load", "docker-image", image, "--name", self.cluster]
        if self.tool == "minikube":
            return ["minikube", "image", "load", image, "--profile", self.cluster]
        return ["k3d", "image", "import", image, "--cluster", self.cluster]

    def installed(self) -> bool:
        return shutil.which(self.tool) is not None


def local_cluster(context: str | None) -> LocalCluster | None:
    """kind names its contexts `kind-<cluster>`, k3d `k3d-<cluster>`, minikube after the profile (`minikube`)."""
    if not context:
        return None
    if context.startswith("kind-") and len(context) > 5:
        return LocalCluster("kind", context[5:])
    if context.startswith("k3d-") and len(context) > 4:
        return LocalCluster("k3d", context[4:])
    if context == "minikube" or context.startswith("minikube-"):
        return LocalCluster("minikube", context)
    return None


def how_to_load(context: str | None, images: list[str]) -> str:
    local = local_cluster(context)
    if local is None:
        return ("push the images to a registry the cluster pulls from, then set NOMOS_TESTNET_IMAGE=<registry>/"
                "<name>:<tag> and NOMOS_TESTNET_IMAGE_PULL_POLICY=Always")
    commands = "; ".join(" ".join(local.load_command(image)) for image in images)
    return f"`nomos-testing image load` ({commands})" + ("" if local.installed() else f" — install {local.tool} first")


def image_names(image: str) -> set[str]:
    """The names a node's image list may show for `image` (docker.io/library/ prefixes added by the runtime)."""
    names = {image}
    first = image.split("/")[0]
    if "/" not in image:
        names |= {f"docker.io/library/{image}", f"docker.io/{image}"}
    elif "." not in first and ":" not in first and first != "localhost":
        names.add(f"docker.io/{image}")
    return names


def nodes_having(nodes: list[dict[str, object]], image: str) -> list[str]:
    """Names of the cluster nodes whose status lists `image` (the kubelet reports the images it holds)."""
    wanted = image_names(image)
    having = []
    for node in nodes:
        status = node.get("status") or {}
        images = status.get("images", []) if isinstance(status, dict) else []
        names = {str(n) for item in images for n in (item.get("names") or [])}
        if names & wanted:
            metadata = node.get("metadata") or {}
            having.append(str(metadata.get("name") if isinstance(metadata, dict) else "?"))
    return having


def load_into_cluster(context: str | None, images: list[str], log: Callable[[str], None]) -> LocalCluster:
    """`nomos-testing image load`: run the tool of the context's local cluster for every image."""
    from nomos_testing.errors import PrerequisiteError
    from nomos_testing.runners.shared.docker import DockerCommandError, run

    local = loadable_cluster(context, images)
    for image in images:
        command = local.load_command(image)
        log(" ".join(command))
        try:
            run(command, timeout=600)
        except DockerCommandError as exc:
            raise PrerequisiteError(f"loading {image} into {local.tool} cluster {local.cluster}: {exc}",
                                    f"is the cluster running? (`{local.tool}` lists it)") from exc
    return local


def loadable_cluster(context: str | None, images: list[str]) -> LocalCluster:
    """The local cluster of `context` whose tool is installed, or a PrerequisiteError saying what to do."""
    from nomos_testing.errors import PrerequisiteError

    local = local_cluster(context)
    if local is None:
        raise PrerequisiteError(f"context {context or '(none)'} is not a kind, minikube or k3d cluster: it cannot "
                                "load local images", how_to_load(context, images))
    if not local.installed():
        raise PrerequisiteError(f"context {context} is a {local.tool} cluster, but `{local.tool}` is not on PATH",
                                f"install {local.tool}, then run `nomos-testing image load` again")
    return local
