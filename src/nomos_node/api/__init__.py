"""HTTP APIs of the node: the base API and the testing API (aiohttp)."""

from nomos_node.api.server import ApiServer, build_base_app, build_testing_app

__all__ = ["ApiServer", "build_base_app", "build_testing_app"]
