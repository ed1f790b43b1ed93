"""The reference node's image (temporary home: the compose runner's image module; moved with issue 7 §2)."""

from nomos_testing.runners.compose.docker import image_labels
from nomos_testing.runners.compose.image import (
    KZG_LABEL,
    KZG_PARAMS_IN_IMAGE,
    build_node_image,
    ensure_node_image,
    node_image_tag,
)

__all__ = ["KZG_LABEL", "KZG_PARAMS_IN_IMAGE", "build_node_image", "ensure_node_image", "image_labels",
           "node_image_tag"]
