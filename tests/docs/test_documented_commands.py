"""Every command README.md and docs/*.md show in a ```sh block is exercised by a test.

`COVERAGE` lists each documented command (by document and first line, a trailing comment stripped) with how
it is exercised:

* `Run(test)`: the test of this module named there runs it for real, as written, from where the document
  says (the repository root, or for docs/node.md a scratch directory whose `.venv` points at the project's).
  Only what the document itself calls a placeholder is replaced (`RUN_ID`).
* `Mapped(tests, why)`: running it verbatim here is unreasonable (`make test` would run this suite inside
  itself; a benchmark takes minutes); the listed tests exercise what it does, and they must exist.

A command that appears in the docs without an entry fails `test_every_documented_command_is_covered`, and so
does an entry whose command left the docs: the table and the docs cannot drift apart.

The long commands (four scenario runs of 20-30 s and the 3-node walkthrough) start together in the
background when the first of these tests needs them and are checked at the end, so the module takes about a
minute. Compose commands need a Docker engine: without one they skip with the reason (a failure under
CI=true, see tests/conftest.py).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.docs.doc_commands import LANGUAGES, REPO, all_blocks, all_commands, find, sh_block_containing
from tests.docs.sample_output import mismatches

# generous: the first test also waits for the session set-up (a stale .venv, a cold image build)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

HERE = Path(__file__).resolve().parent
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()
WAIT_FOR_NODE = HERE / "wait_for_node.py"


@dataclass(frozen=True)
class Run:
    test: str  # a test function of this module that runs the command for real


@dataclass(frozen=True)
class Mapped:
    tests: tuple[str, ...]  # "path::function" of tests that exercise what the command does
    why: str


MAKE_TEST_TESTS = (f"{THIS}::test_make_test_sets_up_then_runs_the_whole_suite",
                   f"{THIS}::test_make_run_prints_what_the_readme_shows")
BENCH_TESTS = (f"{THIS}::test_benchmarks_smoke_host", f"{THIS}::test_benchmarks_smoke_compose")
WALKTHROUGH = "test_node_md_three_node_walkthrough"
TX_E2E = ("tests/framework/test_transactions_e2e.py::test_the_transactions_scenario_passes_on_the_host_runner",
          "tests/compose/test_compose_transactions.py::test_the_transactions_scenario_passes_on_compose")
DA_VECTORS_TEST = "tests/da/test_encoding.py::test_the_committed_vectors_are_what_the_encoder_produces"
K8S_E2E = ("tests/k8s/test_k8s_e2e.py::test_doctor_finds_the_cluster",
           "tests/k8s/test_k8s_e2e.py::test_smoke_scenario_passes_and_leaves_nothing")
K8S_WHY = ("needs a Kubernetes cluster, which cannot run on this project's machines: .github/workflows/k8s.yml runs "
           "these steps on kind, then these tests (skipped here with the reason, README Tests)")
K8S_REGISTRY_WHY = ("needs a registry and a remote cluster; what the runner does with the variables is the same code "
                    "the k8s e2e tests run, and tests/framework/test_k8s_manifests.py checks image and pull policy")
COVERAGE: dict[tuple[str, str], Run | Mapped] = {
    ("docs/runners.md", "kind create cluster --name nomos"): Mapped(K8S_E2E, K8S_WHY),
    ("docs/runners.md", ".venv/bin/nomos-testing image build"): Mapped(K8S_E2E, K8S_WHY),
    ("docs/runners.md", "kind load docker-image nomos-testing-node:0.1.0 nomos-testing-prometheus:0.1.0 --name nomos"):
        Mapped(K8S_E2E, K8S_WHY),
    ("docs/runners.md", ".venv/bin/nomos-testing doctor --runner k8s"):
        Mapped(("tests/framework/test_k8s_cli.py::test_doctor_and_run_say_no_cluster_is_reachable_without_a_kubeconfig",
                *K8S_E2E), "without a cluster here (the CLI test), with one in the k8s workflow"),
    ("docs/runners.md", ".venv/bin/nomos-testing run scenarios/smoke.toml --runner k8s"):
        Mapped(("tests/framework/test_k8s_cli.py::test_doctor_and_run_say_no_cluster_is_reachable_without_a_kubeconfig",
                *K8S_E2E), "exit 2 without a cluster here (the CLI test); passes on kind in the k8s workflow"),
    ("docs/runners.md", "docker tag nomos-testing-node:0.1.0 registry.example.com/nomos/node:0.1.0"):
        Mapped(K8S_E2E, K8S_REGISTRY_WHY),
    ("docs/runners.md", "docker push registry.example.com/nomos/node:0.1.0"): Mapped(K8S_E2E, K8S_REGISTRY_WHY),
    ("docs/runners.md", "NOMOS_TESTNET_IMAGE=registry.example.com/nomos/node:0.1.0 "
                        "NOMOS_TESTNET_IMAGE_PULL_POLICY=Always K8S_RUNNER_CONTEXT=my-cluster "
                        ".venv/bin/nomos-testing run scenarios/smoke.toml --runner k8s"):
        Mapped(K8S_E2E, K8S_REGISTRY_WHY),
    ("README.md", "make run"): Run("test_make_run_prints_what_the_readme_shows"),
    ("README.md", "make test"): Mapped(MAKE_TEST_TESTS, "runs this very suite: the set-up half is `make run`'s "
                                       "(same stamp target), the suite half is checked as a dry run"),
    ("README.md", "export POL_PROOF_DEV_MODE=true"): Run("test_readme_doctor"),
    ("README.md", ".venv/bin/nomos-testing doctor"): Run("test_readme_doctor"),
    ("README.md", ".venv/bin/nomos-testing run scenarios/smoke.toml -v 2 -e 1 -t 20"):
        Run("test_readme_run_with_flags"),
    ("README.md", ".venv/bin/nomos-testing run scenarios/smoke.toml --runner compose"):
        Run("test_readme_run_on_compose"),
    ("README.md", ".venv/bin/nomos-testing up scenarios/smoke.toml"): Run("test_readme_up_down_clean"),
    ("README.md", ".venv/bin/nomos-testing down RUN_ID"): Run("test_readme_up_down_clean"),
    ("README.md", ".venv/bin/nomos-testing node RUN_ID restart validator-1"): Run("test_readme_up_down_clean"),
    ("README.md", ".venv/bin/nomos-testing plugins"): Run("test_readme_plugins"),
    ("README.md", ".venv/bin/nomos-testing runs"):
        Mapped(("tests/framework/test_html_report.py::test_runs_lists_newest_first_and_a_run_without_report_as_such",),
               "lists the developer's own .runs; the test runs the command on run directories it made"),
    ("README.md", ".venv/bin/nomos-testing report .runs/RUN_ID --open"):
        Mapped(("tests/framework/test_html_report.py::test_report_open_uses_the_web_browser",
                "tests/framework/test_html_browser.py::test_the_report_of_a_failing_run"),
               "--open starts the desktop's browser; the tests run the command with the browser call recorded, "
               "and open a report in headless Chromium"),
    ("README.md", ".venv/bin/nomos-testing clean"): Run("test_readme_up_down_clean"),
    ("docs/cli.md", "POL_PROOF_DEV_MODE=true .venv/bin/nomos-testing run scenarios/smoke.toml -v 4 -t 20 --seed 7"):
        Run("test_cli_md_run_example"),
    ("docs/node.md", "POL_PROOF_DEV_MODE=true .venv/bin/nomos-node node-0.yaml"): Run(WALKTHROUGH),
    ("docs/node.md", ".venv/bin/python - <<'EOF'"): Run(WALKTHROUGH),
    ("docs/node.md", "mkdir -p logs"): Run(WALKTHROUGH),
    ("docs/node.md", "export POL_PROOF_DEV_MODE=true NOMOS_LOG_DIR=$PWD/logs"): Run(WALKTHROUGH),
    ("docs/node.md", "for i in 0 1 2; do .venv/bin/nomos-node node-$i.yaml & done"): Run(WALKTHROUGH),
    ("docs/node.md", "curl -s localhost:18080/cryptarchia/info"): Run(WALKTHROUGH),
    ("docs/node.md", "curl -s localhost:18080/network/info"): Run(WALKTHROUGH),
    ("docs/node.md", "tail -f logs/nomos-node-*.log | grep -E 'produced|reorg|refused'"): Run(WALKTHROUGH),
    ("docs/node.md", "curl -s localhost:18080/metrics | grep ^consensus_"): Run(WALKTHROUGH),
    ("docs/node.md", "curl -s localhost:18080/mantle/status"): Run(WALKTHROUGH),
    ("docs/transactions.md", "POL_PROOF_DEV_MODE=true .venv/bin/nomos-testing run scenarios/transactions.toml"):
        Mapped(TX_E2E, "a 90 s run window plus cooldown (≈ 2 min); these tests run this file through the same CLI "
                       "with -t 40 on host and on compose and check the figures the doc describes"),
    ("docs/transactions.md", "POL_PROOF_DEV_MODE=true .venv/bin/python -m benchmarks transactions"):
        Mapped((f"{THIS}::test_transactions_md_sign_benchmark", f"{THIS}::test_benchmarks_smoke_host", TX_E2E[0]),
               "several minutes of networks under load; its sign part runs as documented, the smoke mode runs "
               "the module, and its network part is a scenario run like the e2e test's"),
    ("docs/transactions.md", ".venv/bin/python -m benchmarks transactions --parts sign"):
        Run("test_transactions_md_sign_benchmark"),
    ("docs/benchmarks.md", "POL_PROOF_DEV_MODE=true .venv/bin/python -m benchmarks framework"):
        Mapped(BENCH_TESTS, "≈ 4 minutes; the smoke mode runs the same code at N = 1"),
    ("docs/benchmarks.md", "POL_PROOF_DEV_MODE=true .venv/bin/python -m benchmarks framework --quick"):
        Mapped(BENCH_TESTS, "about a minute; the smoke mode is --quick at N = 1"),
    ("docs/benchmarks.md", "POL_PROOF_DEV_MODE=true .venv/bin/python -m benchmarks framework --parts liveness"):
        Mapped((*BENCH_TESTS, "tests/framework/test_cli_e2e.py::test_smoke_run_passes_and_writes_the_run_directory"),
               "a 64-node, 60 s liveness run; the same lifecycle is run by the CLI tests and the smoke mode"),
    ("docs/data-availability.md", ".venv/bin/python -m tests.da.make_vectors"):
        Mapped((DA_VECTORS_TEST,), "rewrites tests/da/vectors.json; the test checks that the file is exactly what "
                                   "the command writes"),
    ("docs/data-availability.md", "/tmp/specs-venv/bin/python tests/da/crosscheck_spec.py --nomos-specs "
                                  "/tmp/xcheck/nomos-specs --consensus-specs /tmp/xcheck/consensus-specs"):
        Mapped((DA_VECTORS_TEST,), "needs checkouts of the Nomos specification and of consensus-specs and a "
                                   "Python 3.12 venv with the reference's pinned packages, none of which the suite "
                                   "has: run by hand (the doc gives when and the result); the suite checks the "
                                   "vectors it verified"),
    ("docs/consensus.md", ".venv/bin/python -m benchmarks fork_ties"):
        Mapped(("tests/node/test_fork_convergence.py::test_connected_nodes_converge_when_most_slots_have_several_leaders",
                "tests/node/test_fork_ties_model.py::test_pair_depth_is_the_smaller_reorg"),
               "18 runs of 4 real nodes for 60 s (≈ 25 min); the convergence test runs such a network with the "
               "lower_vrf rule and checks the same depths, the model test checks the depth measure"),
    ("docs/consensus.md",
     ".venv/bin/python -m benchmarks fork_ties --simulate 2000 --slots 120 --cases 0.5:3,1:5,1:10"):
        Mapped(("tests/node/test_fork_ties_model.py::test_model_splits_with_keep_current_and_not_with_lower_vrf",),
               "≈ 20 s of simulation; the test runs the same model at k = 3 for 40 runs per rule"),
    ("docs/benchmarks.md", ".venv/bin/python -m benchmarks da"):
        Mapped(("tests/da/test_bench_smoke.py::test_the_da_benchmark_runs_in_its_smoke_configuration",),
               "≈ 80 s; the smoke mode runs the same code on 4 KiB blobs"),
    ("docs/benchmarks.md", ".venv/bin/python -m benchmarks da --sizes-kib 64 --columns 2,4,16 --repeats 3"):
        Mapped(("tests/da/test_bench_smoke.py::test_the_da_benchmark_runs_in_its_smoke_configuration",),
               "the same code as the smoke mode, with other sizes and column counts"),
}


# --------------------------------------------------------------------------------------------- the table

def test_every_documented_command_is_covered() -> None:
    documented = {(command.doc, command.key): command for command in all_commands()}
    missing = [f"{c.doc}:{c.line}: `{c.key}`" for key, c in documented.items() if key not in COVERAGE]
    stale = [f"{doc}: `{key}`" for doc, key in COVERAGE if (doc, key) not in documented]
    assert not missing, ("documented commands no test runs or maps; add them to COVERAGE in "
                         f"{THIS} (Run or Mapped):\n  " + "\n  ".join(missing))
    assert not stale, "COVERAGE entries the docs no longer show:\n  " + "\n  ".join(stale)


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            names.add(node.name)
    return names


def test_coverage_names_existing_tests() -> None:
    here = _test_functions(Path(__file__))
    problems = []
    for (doc, key), how in COVERAGE.items():
        if isinstance(how, Run):
            if how.test not in here:
                problems.append(f"{doc} `{key}`: no test {how.test} in {THIS}")
            continue
        assert how.tests and how.why, (doc, key)
        for target in how.tests:
            path, _, name = target.partition("::")
            if not (REPO / path).is_file() or name not in _test_functions(REPO / path):
                problems.append(f"{doc} `{key}`: {target} does not exist")
    assert not problems, "\n".join(problems)


def test_fences_are_tagged_and_their_content_parses() -> None:
    problems = []
    for block in all_blocks():
        where = f"{block.doc}:{block.line}"
        if block.lang not in LANGUAGES:
            problems.append(f"{where}: fence tagged {block.lang!r}, expected one of {sorted(LANGUAGES)}")
        elif block.lang == "sh" and any(line.startswith("$ ") for line in block.body.splitlines()):
            problems.append(f"{where}: a `$ ` prompt in a ```sh block does not paste")
        elif block.lang == "python":
            try:
                ast.parse(block.body)
            except SyntaxError as exc:
                problems.append(f"{where}: {exc}")
        elif block.lang == "yaml":
            try:
                yaml.safe_load(block.body)
            except yaml.YAMLError as exc:
                problems.append(f"{where}: {exc}")
        elif block.lang == "toml":
            try:
                tomllib.loads(block.body)
            except tomllib.TOMLDecodeError as exc:
                problems.append(f"{where}: {exc}")
    assert not problems, "\n".join(problems)


def test_cli_md_synopsis_matches_the_cli() -> None:
    """Every subcommand and every option of `nomos-testing` is in docs/cli.md's synopsis, and nothing else."""
    import typer.main

    from nomos_testing.cli import app

    synopsis = next(block for block in all_blocks() if block.doc == "docs/cli.md" and block.lang == "text")
    shown: dict[str, set[str]] = {}
    current = ""
    for line in synopsis.body.splitlines():
        if line.startswith("nomos-testing "):
            words = line.split()[1:]
            current = " ".join(w for w in words[:2] if re.fullmatch(r"[a-z]+", w))
            shown[current] = set()
        shown[current] |= set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line))

    real: dict[str, set[str]] = {}

    def collect(command: Any, prefix: str) -> None:  # a click command (typer may vendor click)
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                collect(sub, f"{prefix} {name}".strip())
            return
        options = {opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("-")}
        real[prefix] = options - {"--help"}

    collect(typer.main.get_command(app), "")
    assert set(shown) == set(real), f"subcommands: docs {sorted(shown)}, CLI {sorted(real)}"
    for name, options in real.items():
        for option in options:
            assert option in shown[name] or any(other in shown[name] for other in _aliases(name, option)), \
                f"`nomos-testing {name}` has {option}, docs/cli.md's synopsis does not show it"
        unknown = shown[name] - options
        assert not unknown, f"docs/cli.md shows {sorted(unknown)} for `{name}`, which the CLI does not have"


def _aliases(command: str, option: str) -> set[str]:
    """The other spellings of `option` (e.g. -v for --validators): the synopsis shows one of them."""
    import typer.main

    from nomos_testing.cli import app

    group = typer.main.get_command(app)
    target = group
    for part in command.split():
        target = target.commands[part]  # type: ignore[attr-defined]
    for param in target.params:
        if option in getattr(param, "opts", []):
            return set(param.opts) | set(getattr(param, "secondary_opts", []))
    return set()


def test_environment_md_is_generated_from_settings() -> None:
    """docs/environment.md is `python -m nomos_testing.settings > docs/environment.md`, current."""
    from nomos_testing.settings import markdown_table

    assert (REPO / "docs/environment.md").read_text(encoding="utf-8") == markdown_table(), \
        "docs/environment.md is stale: regenerate it with `.venv/bin/python -m nomos_testing.settings > " \
        "docs/environment.md`"


def test_node_md_states_the_node_defaults() -> None:
    from nomos_node.consensus.pol import DEFAULT_POL_DIFFICULTY_BITS

    text = (REPO / "docs/node.md").read_text(encoding="utf-8")
    shown = re.search(r"^\| `NOMOS_POL_DIFFICULTY_BITS` \| (\d+) \|", text, re.M)
    assert shown and int(shown.group(1)) == DEFAULT_POL_DIFFICULTY_BITS, \
        f"docs/node.md shows {shown and shown.group(1)}, the node's default is {DEFAULT_POL_DIFFICULTY_BITS}"
    consensus = (REPO / "docs/consensus.md").read_text(encoding="utf-8")
    stated = re.search(r"`d` defaults to \*\*(\d+)\*\*", consensus)
    assert stated and int(stated.group(1)) == DEFAULT_POL_DIFFICULTY_BITS, \
        f"docs/consensus.md shows {stated and stated.group(1)}, the node's default is {DEFAULT_POL_DIFFICULTY_BITS}"


# ------------------------------------------------------------------------------- running the commands

def _env(**extra: str) -> dict[str, str]:
    """The user's environment as the docs assume it: nothing the commands shown do not set themselves."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"POL_PROOF_DEV_MODE", "COLUMNS", "LINES", "NOMOS_NODE_BIN", "NOMOS_EXECUTOR_BIN",
                        "NOMOS_LOG_DIR", "COMPOSE_RUNNER_PRESERVE", "TEST_FRAMEWORK_PROMETHEUS_PORT",
                        "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}  # (under `make test`: a fresh make, as typed)
    env.update(extra)
    return env


def _docker_reachable() -> tuple[bool, str]:
    from nomos_testing.runners.compose.compose_cli import find_compose
    from nomos_testing.runners.shared.docker import daemon_status

    reachable, detail = daemon_status()
    if not reachable:
        return False, f"a Docker engine: {detail} (start dockerd; .ci/run does)"
    if find_compose() is None:
        return False, "`docker compose` or `docker-compose`"
    return True, ""


def _kill_tree(pid: int) -> None:
    """SIGTERM the process we started and everything under it (by pid), then SIGKILL what is left."""
    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@dataclass
class Background:
    """A documented command running in the background; its stdout+stderr collected."""

    name: str
    process: subprocess.Popen[bytes]
    chunks: list[bytes] = field(default_factory=list)
    reader: threading.Thread | None = None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, name: str, args: list[str], *, cwd: Path, env: dict[str, str], tty: bool = False) -> Background:
        if tty:  # programs see a terminal: line-buffered output, as when a person runs the commands
            master, slave = pty.openpty()
            process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave,
                                       stderr=slave, start_new_session=True)
            os.close(slave)
            source = master
        else:
            process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            assert process.stdout is not None
            source = process.stdout.fileno()
        job = cls(name, process)
        job.reader = threading.Thread(target=job._read, args=(source, tty), daemon=True)
        job.reader.start()
        return job

    def _read(self, fd: int, close: bool) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            self.chunks.append(data)
        if close:
            os.close(fd)

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace").replace("\r\n", "\n")

    def wait(self, timeout: float) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(self.process.pid)
            raise AssertionError(f"{self.name} still running after {timeout:g} s; output:\n{self.output[-4000:]}"
                                 ) from None
        assert self.reader is not None
        self.reader.join(timeout=10)
        return code, self.output

    def wait_for_text(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: never printed {text!r}; output:\n{self.output[-4000:]}")
            time.sleep(0.1)


def _run_dirs(output: str) -> list[Path]:
    return [REPO / m for m in re.findall(r"^run directory: (\S+)$", output, re.M)]


def _remove_runs(*dirs: Path) -> None:
    for run_dir in dirs:
        if run_dir.resolve().parent == (REPO / ".runs").resolve():
            shutil.rmtree(run_dir, ignore_errors=True)


# the README's shell: its `export POL_PROOF_DEV_MODE=true` line, then the command
def _readme_shell(key: str) -> list[str]:
    export = find("README.md", "export POL_PROOF_DEV_MODE=true").text
    return ["bash", "-c", f"{export}\n{find('README.md', key).text}"]


def _walkthrough_script(workdir: Path) -> str:
    """docs/node.md's 3-node walkthrough as one shell session: the commands as written, plus test glue
    (waits, markers) between them. Job control is on, as in the interactive shell the doc assumes."""
    start_block = sh_block_containing("docs/node.md", ".venv/bin/python - <<'EOF'").body
    watch = [find("docs/node.md", key).text for key in (
        "curl -s localhost:18080/cryptarchia/info", "curl -s localhost:18080/network/info",
        "tail -f logs/nomos-node-*.log | grep -E 'produced|reorg|refused'",
        "curl -s localhost:18080/metrics | grep ^consensus_", "curl -s localhost:18080/mantle/status")]
    single = find("docs/node.md", "POL_PROOF_DEV_MODE=true .venv/bin/nomos-node node-0.yaml").text
    wait = f"{sys.executable} {WAIT_FOR_NODE} http://127.0.0.1:18080"
    return f"""set -m
cd {workdir}
trap 'kill %1 %2 %3 2>/dev/null' EXIT
{start_block}
{wait} --height 2 --peers 2 --timeout 90 || exit 3
echo "=== info"
{watch[0]}
echo
echo "=== network"
{watch[1]}
echo
echo "=== tail"
{watch[2]} &
sleep 3
kill %4
wait %4 2>/dev/null
echo "=== metrics"
{watch[3]}
echo "=== mantle"
{watch[4]}
echo
echo "=== stop"
kill %1 %2 %3
for job in 1 2 3; do wait %$job; echo "node job $job exit $?"; done
trap - EXIT
echo "=== restart"
{single} &
node=$!
{wait} --height 2 --timeout 60 || {{ kill $node; exit 4; }}
kill $node
wait $node
echo "restarted node exit $?"
"""


_WALKTHROUGH_PORTS = [18080, 18081, 18090, 18091, 18100, 18101, 13000, 13001, 13002]


def _private_loopback() -> list[str] | None:
    """A command prefix giving the walkthrough its own network namespace (its own loopback), so its fixed
    ports never collide with anything else on the machine; None when namespaces are not available."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    for flags in (["-n"], ["-rn"]):
        probe = subprocess.run(["unshare", *flags, "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
        if probe.returncode == 0:
            return ["unshare", *flags, "sh", "-c", 'ip link set lo up && exec bash "$0"']
    return None


def _ports_free(ports: list[int]) -> list[int]:
    taken = []
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    return taken


@dataclass
class Session:
    jobs: dict[str, Background]
    docker: tuple[bool, str]
    image_build: subprocess.CompletedProcess[str] | None
    walkthrough_dir: Path
    walkthrough_problem: str = ""


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """Start every long documented command at once; each test below checks one of them."""
    jobs: dict[str, Background] = {}
    docker = _docker_reachable()
    image_build = None
    walkthrough_dir = tmp_path_factory.mktemp("node-md")
    problem = ""
    try:
        # `make run` first: on a stale .venv it reinstalls the project, which the other commands then use
        jobs["make run"] = Background.start("make run", ["make", "run"], cwd=REPO, env=_env())
        jobs["make run"].wait_for_text("nomos-testing run scenarios/smoke.toml", timeout=180)
        key = ".venv/bin/nomos-testing run scenarios/smoke.toml -v 2 -e 1 -t 20"
        jobs[key] = Background.start(key, _readme_shell(key), cwd=REPO, env=_env())
        cli_md = find("docs/cli.md", "POL_PROOF_DEV_MODE=true .venv/bin/nomos-testing run scenarios/smoke.toml "
                                     "-v 4 -t 20 --seed 7")
        jobs[cli_md.key] = Background.start(cli_md.key, ["bash", "-c", cli_md.text], cwd=REPO, env=_env())
        if docker[0]:
            # docs/cli.md's `image build` (synopsis) first, so that the compose run does not build concurrently
            image_build = subprocess.run([str(REPO / ".venv/bin/nomos-testing"), "image", "build"], cwd=REPO,
                                         env=_env(), capture_output=True, text=True, timeout=600)
            key = ".venv/bin/nomos-testing run scenarios/smoke.toml --runner compose"
            jobs[key] = Background.start(key, _readme_shell(key), cwd=REPO, env=_env())
        (walkthrough_dir / ".venv").symlink_to(REPO / ".venv")
        script = walkthrough_dir / "walkthrough.sh"
        script.write_text(_walkthrough_script(walkthrough_dir), encoding="utf-8")
        prefix = _private_loopback()
        if prefix is None and (taken := _ports_free(_WALKTHROUGH_PORTS)):
            problem = (f"no private network namespace (unshare -n) here, and the walkthrough's fixed ports "
                       f"{taken} are in use on this machine")
        else:
            jobs[WALKTHROUGH] = Background.start(WALKTHROUGH, [*(prefix or ["bash"]), str(script)],
                                                 cwd=walkthrough_dir, env=_env(), tty=True)
        yield Session(jobs, docker, image_build, walkthrough_dir, problem)
    finally:
        for job in jobs.values():
            if job.process.poll() is None:
                _kill_tree(job.process.pid)
        for job in jobs.values():
            _remove_runs(*_run_dirs(job.output))


def _finished(session: Session, key: str, timeout: float = 150) -> tuple[int, str]:
    code, output = session.jobs[key].wait(timeout)
    assert code == 0, f"`{key}` exited {code}:\n{output[-4000:]}"
    return code, output


def _passed_run(output: str, deploying: str) -> None:
    assert deploying in output, output[-3000:]
    assert "PASSED: 1 expectation(s) held" in output, output[-3000:]
    dirs = _run_dirs(output)
    assert len(dirs) == 1 and (dirs[0] / "report.json").is_file(), output[-3000:]
    assert json.loads((dirs[0] / "report.json").read_text())["passed"] is True


# -- quick ones first (the long ones run meanwhile)

def test_readme_doctor(session: Session) -> None:
    done = subprocess.run(_readme_shell(".venv/bin/nomos-testing doctor"), cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok  POL_PROOF_DEV_MODE: true" in done.stdout and "all prerequisites hold" in done.stdout


def test_readme_up_down_clean(session: Session) -> None:
    up = subprocess.run(_readme_shell(".venv/bin/nomos-testing up scenarios/smoke.toml"), cwd=REPO, env=_env(),
                        capture_output=True, text=True, timeout=120)
    info = json.loads(up.stdout) if up.returncode == 0 else {}
    run_dir = Path(info.get("run_dir", REPO / ".runs" / "none"))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert [node["name"] for node in info["nodes"]] == ["validator-0", "validator-1", "validator-2",
                                                            "executor-0"]
        assert f"stop it with: nomos-testing down {info['run_id']}" in up.stderr
        _check_cli_md_up_sample(info)
        node_command = find("README.md", ".venv/bin/nomos-testing node RUN_ID restart validator-1")
        restart = subprocess.run(["bash", "-c", node_command.text.replace("RUN_ID", info["run_id"])], cwd=REPO,
                                 env=_env(), capture_output=True, text=True, timeout=60)
        assert restart.returncode == 0, restart.stdout + restart.stderr
        assert f"restart validator-1 of run {info['run_id']}: now running" in restart.stdout
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
        assert any(e["kind"] == "node.restart" and e["node"] == "validator-1" for e in events)
        # the restarted node bound the address of its run-directory config itself and serves there again
        _wait_height(next(n["api"] for n in info["nodes"] if n["name"] == "validator-1"), timeout=30)
        down_command = find("README.md", ".venv/bin/nomos-testing down RUN_ID")
        assert down_command.text.count("RUN_ID") == 1
        down = subprocess.run(["bash", "-c", down_command.text.replace("RUN_ID", info["run_id"])], cwd=REPO,
                              env=_env(), capture_output=True, text=True, timeout=60)
        assert down.returncode == 0 and "stopped 4 node(s)" in down.stdout, down.stdout + down.stderr
        clean = subprocess.run(_readme_shell(".venv/bin/nomos-testing clean"), cwd=REPO, env=_env(),
                               capture_output=True, text=True, timeout=120)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "nothing to clean" in clean.stdout or "removed" in clean.stdout, clean.stdout
    finally:
        if up.returncode == 0:
            subprocess.run([str(REPO / ".venv/bin/nomos-testing"), "down", str(run_dir)], cwd=REPO, env=_env(),
                           capture_output=True, timeout=60)
            _remove_runs(run_dir)
    # runs still driven by their process are left alone by `clean`
    for key in (".venv/bin/nomos-testing run scenarios/smoke.toml -v 2 -e 1 -t 20", "make run"):
        assert session.jobs[key].process.poll() in (None, 0), f"`clean` hurt `{key}`"


def _wait_height(api_url: str, timeout: float) -> None:
    done = subprocess.run([sys.executable, str(WAIT_FOR_NODE), api_url, "--height", "1", "--timeout", str(timeout)],
                          capture_output=True, text=True, timeout=timeout + 10)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_plugins() -> None:
    done = subprocess.run(_readme_shell(".venv/bin/nomos-testing plugins"), cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    for group in ("workloads", "expectations", "runners", "reporters", "nodes"):
        assert f"{group} (nomos_testing.{group}):" in done.stdout
    assert "consensus_liveness:" in done.stdout and "min_fraction: a number in [0, 1] (default 0.5)" in done.stdout
    assert "host:" in done.stdout and "compose:" in done.stdout and "reference:" in done.stdout


def _check_cli_md_up_sample(info: dict) -> None:
    """docs/cli.md's sample of up's stdout has the keys up prints."""
    block = next(b for b in all_blocks() if b.doc == "docs/cli.md" and b.lang == "text" and '"run_id"' in b.body)
    sample = json.loads(re.sub(r",\s*…", "", block.body))
    assert set(sample) == set(info), f"docs/cli.md shows {sorted(sample)}, up prints {sorted(info)}"
    assert set(sample["nodes"][0]) == set(info["nodes"][0]), (sample["nodes"][0], info["nodes"][0])


def test_make_test_sets_up_then_runs_the_whole_suite() -> None:
    """`make test` = the `.venv` set-up `make run` also depends on (run for real by the test below), then
    pytest over testpaths on two workers = the whole suite; running it here would run this suite inside itself."""
    dry = subprocess.run(["make", "-n", "-W", "pyproject.toml", "test"], cwd=REPO, env=_env(), capture_output=True,
                         text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.strip().splitlines()
    assert lines[0].startswith("python3 -m venv .venv") and "pip install --quiet -e '.[dev]'" in dry.stdout
    assert lines[-1] == ".venv/bin/pytest -n 2 --dist loadgroup", lines  # two workers: README, tests/conftest.py
    run_recipe = subprocess.run(["make", "-n", "-W", "pyproject.toml", "run"], cwd=REPO, env=_env(),
                                capture_output=True, text=True, timeout=30).stdout.strip().splitlines()
    assert run_recipe[:-1] == lines[:-1], "make run and make test no longer share the set-up"
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


def test_image_build(session: Session) -> None:
    if not session.docker[0]:
        pytest.skip(f"`nomos-testing image build` needs {session.docker[1]}")
    done = session.image_build
    assert done is not None and done.returncode == 0, (done.stdout + done.stderr) if done else "not run"
    assert re.search(r"^built nomos-testing-node:\S+$", done.stdout, re.M), done.stdout


def test_benchmarks_smoke_host() -> None:
    """docs/benchmarks.md's `python -m benchmarks framework …` in the smallest configuration (+ bench_node, and
    docs/transactions.md's bench_transactions)."""
    done = subprocess.run([sys.executable, "-m", "benchmarks", "framework", "node", "transactions", "--smoke"],
                          cwd=REPO, env=_env(POL_PROOF_DEV_MODE="true"), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "=== framework done" in done.stdout and "=== node done" in done.stdout
    assert "=== transactions done" in done.stdout and "sign only:" in done.stdout
    assert "start → all ready" in done.stdout and "chain growth" in done.stdout


def test_transactions_md_sign_benchmark() -> None:
    """docs/transactions.md's signing baseline, as written, from the repository root."""
    command = find("docs/transactions.md", ".venv/bin/python -m benchmarks transactions --parts sign")
    done = subprocess.run(["bash", "-c", command.text], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^sign only: [\d,]+ tx/s", done.stdout, re.M), done.stdout
    assert "=== transactions done" in done.stdout


def test_benchmarks_smoke_compose(session: Session) -> None:
    if not session.docker[0]:
        pytest.skip(f"the compose benchmark needs {session.docker[1]}")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "compose", "--smoke"], cwd=REPO,
                          env=_env(POL_PROOF_DEV_MODE="true"), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| 1 | compose |" in done.stdout and "| 1 | host |" in done.stdout


# -- the long ones

def test_make_run_prints_what_the_readme_shows(session: Session) -> None:
    _, output = _finished(session, "make run")
    _passed_run(output, "> deploying 3 validator(s) + 1 executor(s), star layout")
    sample = next(block for block in all_blocks() if block.doc == "README.md" and block.lang == "text")
    problems = mismatches(sample.body, output)
    assert not problems, ("README.md's sample output of `make run` no longer matches what it prints "
                          "(copy a fresh, trimmed excerpt):\n  " + "\n  ".join(problems) + "\n\n" + output)


def test_readme_run_with_flags(session: Session) -> None:
    _, output = _finished(session, ".venv/bin/nomos-testing run scenarios/smoke.toml -v 2 -e 1 -t 20")
    _passed_run(output, "> deploying 2 validator(s) + 1 executor(s), star layout")
    assert "> running for 20 s" in output


def test_cli_md_run_example(session: Session) -> None:
    _, output = _finished(session, "POL_PROOF_DEV_MODE=true .venv/bin/nomos-testing run scenarios/smoke.toml "
                                   "-v 4 -t 20 --seed 7")
    _passed_run(output, "> deploying 4 validator(s) + 1 executor(s), star layout, seed 7\n")
    assert "> running for 20 s" in output


def test_readme_run_on_compose(session: Session) -> None:
    if not session.docker[0]:
        pytest.skip(f"`run --runner compose` needs {session.docker[1]}")
    _, output = _finished(session, ".venv/bin/nomos-testing run scenarios/smoke.toml --runner compose", 200)
    _passed_run(output, "> deploying 3 validator(s) + 1 executor(s), star layout")
    assert re.search(r"^run \S+ · compose · seed \d+$", output, re.M), output[-3000:]


def test_node_md_three_node_walkthrough(session: Session) -> None:
    """docs/node.md: write three configs, start the nodes, watch them (curl, tail | grep, metrics), stop them
    with `kill %1 %2 %3` (exit 0), restart node 0 with its config (resumes from its data_dir).

    The ports are the doc's fixed ones: the session runs in a private network namespace when the machine
    allows it (`unshare -n`), so they cannot collide with anything else."""
    assert not session.walkthrough_problem, session.walkthrough_problem
    _, output = _finished(session, WALKTHROUGH)
    sections = dict(re.findall(r"^=== (\w+)\n(.*?)(?=^=== |\Z)", output, re.M | re.S))
    assert "wrote node-0.yaml node-1.yaml node-2.yaml" in output
    info = json.loads(sections["info"])
    assert list(info) == ["lib", "tip", "slot", "height", "mode"], info  # the doc's comment shows these
    assert info["height"] >= 2 and info["mode"] in {"Bootstrapping", "Online"}
    assert json.loads(sections["network"])["n_peers"] == 2, sections["network"]  # the hub
    assert "block produced" in sections["tail"], sections["tail"]
    metrics = [line for line in sections["metrics"].splitlines() if line.strip()]
    assert metrics and all(line.startswith("consensus_") for line in metrics), metrics
    assert any(line.startswith("consensus_tip_height ") for line in metrics), metrics
    mantle = json.loads(sections["mantle"])  # the doc's comment: pending, ledger_height, …, supply 3000 (stake)
    assert list(mantle) == ["pending", "ledger_height", "tip", "supply", "genesis_supply", "fees_burned",
                            "unspent_notes"], mantle
    assert mantle["pending"] == 0 and mantle["supply"] == mantle["genesis_supply"] == 3000, mantle
    for job in (1, 2, 3):
        assert f"node job {job} exit 0" in sections["stop"], sections["stop"]  # "SIGTERM: exit 0"
    assert "restarted node exit 0" in sections["restart"], sections["restart"]
    log = (session.walkthrough_dir / "logs" / "nomos-node-0.log").read_text(encoding="utf-8")
    assert "node resumed from disk" in log, log[-3000:]
    for name in ("node-0.yaml", "node-1.yaml", "node-2.yaml", "data-0", "data-1", "data-2"):
        assert (session.walkthrough_dir / name).exists(), name
