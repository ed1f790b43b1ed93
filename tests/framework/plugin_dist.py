"""Install the demo plug-in distribution (tests/framework/demo_plugin) the way pip would make it visible: a
`*.dist-info` directory with `entry_points.txt` on a path entry, here a temporary one."""

from __future__ import annotations

import shutil
from pathlib import Path

DEMO = Path(__file__).with_name("demo_plugin")
ENTRY_POINTS = """\
[nomos_testing.workloads]
height_sampler = nomos_demo_plugin:HeightSampler

[nomos_testing.expectations]
events_recorded = nomos_demo_plugin:EventsRecorded
"""


def install_demo_plugin(site: Path) -> Path:
    """A site directory holding the package `nomos_demo_plugin` and its dist-info; put it on sys.path /
    PYTHONPATH and `importlib.metadata.entry_points()` finds its plug-ins."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DEMO, site / "nomos_demo_plugin", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    info = site / "nomos_demo_plugin-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nomos-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site
