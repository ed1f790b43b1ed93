"""Every environment variable the framework reads, in one place (docs/environment.md is generated from it).

`docs/environment.md` is generated from `VARIABLES` (`python -m nomos_testing.settings > docs/environment.md`).
Booleans accept 1/true/yes and 0/false/no (case-insensitive); anything else is an error naming the variable.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from nomos_testing.errors import PlanError


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str  # "bool" | "int" | "float" | "str" | "path" | "choice"
    default: str
    meaning: str
    choices: tuple[str, ...] = ()  # for kind "choice" (compared case-insensitively)


VARIABLES: tuple[Variable, ...] = (
    Variable("POL_PROOF_DEV_MODE", "bool", "unset",
             "true: nodes prove leadership with the VRF alone. Unset/false: nodes also compute the expensive "
             "proof of leadership (seconds per won slot), so chains grow far slower than expected."),
    Variable("NOMOS_NODE_BIN", "path", "`nomos-node` on PATH", "validator binary used by the host runner"),
    Variable("NOMOS_EXECUTOR_BIN", "path", "`nomos-executor` on PATH", "executor binary used by the host runner"),
    Variable("NOMOS_LOG_LEVEL", "str", "info", "node log level (passed to nodes)"),
    Variable("NOMOS_LOG_FILTER", "str", "", "per-target node log levels, `target=level,…` (passed to nodes)"),
    Variable("NOMOS_LOG_DIR", "path", "unset", "node log directory; the runners set it to `<run>/logs`"),
    Variable("NOMOS_TESTS_KEEP_LOGS", "bool", "false", "keep node data directories after the run"),
    Variable("NOMOS_KZGRS_PARAMS_PATH", "path", "`assets/kzgrs_test_params/kzgrs_test_params`",
             "KZG test parameters of data availability: a file, or a directory holding `kzgrs_test_params`. Read "
             "by the nodes, the da_inclusion expectation and the image build (which bakes the file in); "
             "`nomos-testing setup kzg` writes it there (docs/cli.md)"),
    Variable("SLOW_TEST_ENV", "bool", "false", "double every readiness and deployment timeout"),
    Variable("NOMOS_TESTS_READINESS_TIMEOUT", "float", "60",
             "seconds the whole cluster may take to become ready (doubled by SLOW_TEST_ENV)"),
    Variable("CONSENSUS_SLOT_TIME", "float", "2", "slot duration in seconds written into the genesis"),
    Variable("CONSENSUS_ACTIVE_SLOT_COEFF", "float", "0.9", "active slot coefficient f of the genesis"),
    Variable("NOMOS_TESTNET_IMAGE", "str", "nomos-testing-node:<version from versions.env>",
             "node image for the compose and k8s runners"),
    Variable("COMPOSE_RUNNER_HOST", "str", "127.0.0.1", "host address that published container ports bind to"),
    Variable("COMPOSE_RUNNER_PRESERVE", "bool", "false", "keep the compose stack after the run"),
    Variable("TEST_FRAMEWORK_PROMETHEUS_PORT", "int", "ephemeral", "host port of the compose stack's Prometheus"),
    Variable("NOMOS_HOST_PROMETHEUS", "bool", "true",
             "host runner: start a Prometheus process (the `prometheus` binary on PATH) scraping every node, its "
             "data under `<run>/prometheus/`; false: none (no metrics/ in the run directory, and a scenario with a "
             "`metric` expectation stops before deployment)"),
    Variable("NOMOS_COMPOSE_CLI", "choice", "auto",
             "compose CLI of the compose runner: `auto` (the v2 plugin `docker compose` when it works, else "
             "`docker-compose`), `v2` (`docker compose` only) or `v1` (`docker-compose` only); another value, or a "
             "chosen CLI that does not work, fails the compose runner's preflight naming the variable",
             choices=("auto", "v2", "v1")),
    Variable("NOMOS_IMAGE_DEBIAN_MIRROR", "str", "http://deb.debian.org/debian",
             "Debian mirror debootstrap uses for the local base image (when no official base can be pulled)"),
    Variable("NOMOS_GRAFANA_IMAGE", "str", "unset: no Grafana",
             "compose runner: a Grafana image already in the local engine (never pulled; `docker load` it). The "
             "stack then runs it provisioned with the run's Prometheus and the dashboards of "
             "`assets/grafana/dashboards/`, its URL in the report (`cluster.grafana_url`); unset or not found, the "
             "run goes on without it and says why (docs/observability.md)"),
    Variable("NOMOS_TESTNET_IMAGE_PULL_POLICY", "choice", "IfNotPresent",
             "k8s runner: `imagePullPolicy` of the node and Prometheus containers. `IfNotPresent` suits an image "
             "loaded into kind / minikube / k3d (`nomos-testing image load`); `Always` an image in a registry",
             choices=("ifnotpresent", "always", "never")),
    Variable("KUBECONFIG", "path", "~/.kube/config",
             "k8s runner: the kubeconfig file(s) the client reads (as kubectl does)"),
    Variable("K8S_RUNNER_CONTEXT", "str", "the kubeconfig's current context",
             "k8s runner: the kubeconfig context to deploy into"),
    Variable("K8S_RUNNER_NAMESPACE", "str", "`nomos-<run id>`",
             "k8s runner: pin the run's namespace (a DNS label; created by the run, so it must not exist yet)"),
    Variable("K8S_RUNNER_NODE_HOST", "str", "unset: port-forwards",
             "k8s runner: reach the nodes through NodePort services on this host (a node's address) instead of "
             "port-forwards the framework manages"),
    Variable("K8S_RUNNER_PRESERVE", "bool", "false",
             "keep the k8s namespace after the run and print the kubectl commands to inspect and delete it"),
    Variable("K8S_RUNNER_DEPLOYMENT_TIMEOUT_SECS", "float", "180",
             "k8s runner: seconds every pod may take to run (scheduling, image pull), doubled by SLOW_TEST_ENV"),
    Variable("K8S_RUNNER_STORAGE_CLASS", "str", "the cluster's default",
             "k8s runner: storage class of the nodes' data volumes"),
    Variable("NOMOS_K8S_EXTERNAL_PROMETHEUS", "str", "unset: a Prometheus in the run's namespace",
             "k8s runner: URL of an existing Prometheus; the run then deploys none and annotates the node pods "
             "(`prometheus.io/scrape`, `/port`, `/path`) for it to scrape"),
    Variable("XDG_STATE_HOME", "path", "~/.local/state",
             "the run index lives in `<XDG_STATE_HOME>/nomos-testing/runs/`: `down`, `node`, `clean` and `doctor` "
             "find every run through it, wherever its directory is"),
)

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def flag(name: str, default: bool = False) -> bool:
    value = raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise PlanError(f"environment variable {name}={value!r} is not a boolean",
                    f"set {name} to one of 1/true/yes or 0/false/no")


def parse_number(name: str, text: str) -> float:
    """A finite number from the text of variable `name`, or a PlanError naming it."""
    try:
        parsed = float(text)
    except ValueError as exc:
        raise PlanError(f"environment variable {name}={text!r} is not a number",
                        f"set {name} to a number, or unset it") from exc
    if not math.isfinite(parsed):
        raise PlanError(f"environment variable {name}={text!r} is not a finite number",
                        f"set {name} to a number, or unset it")
    return parsed


def number(name: str, default: float) -> float:
    value = raw(name)
    return default if value is None else parse_number(name, value)


def integer(name: str) -> int | None:
    value = raw(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise PlanError(f"environment variable {name}={value!r} is not an integer",
                        f"set {name} to a whole number") from exc


def problems(skip: frozenset[str] = frozenset()) -> list[PlanError]:
    """Every set variable of `VARIABLES` whose value is not of its documented type (bool, int, float).

    Checked up front (`run`, `up`, `doctor`, preflight), so a junk value stops the command before anything
    starts, even when the variable would only be read late (at teardown) or is overridden by the scenario."""
    found = []
    for variable in VARIABLES:
        if variable.name in skip:
            continue
        try:
            if variable.kind == "bool":
                flag(variable.name)
            elif variable.kind == "int":
                integer(variable.name)
            elif variable.kind == "float":
                number(variable.name, _example(variable.default))
            elif variable.kind == "choice":
                choice(variable)
        except PlanError as exc:
            found.append(exc)
    return found


def choice(variable: Variable) -> str:
    """The value of a choice variable, lower-cased; its default when unset; a PlanError naming it otherwise."""
    value = raw(variable.name)
    if value is None:
        return variable.default
    if value.strip().lower() not in variable.choices:
        raise PlanError(f"environment variable {variable.name}={value!r} is not one of {', '.join(variable.choices)}",
                        f"set {variable.name} to one of {', '.join(variable.choices)}, or unset it")
    return value.strip().lower()


def _example(default: str) -> float:
    try:
        return float(default)
    except ValueError:
        return 1.0


def validate() -> None:
    """Raise one PlanError naming every malformed variable (see `problems`)."""
    found = problems()
    if found:
        raise PlanError("; ".join(exc.message for exc in found), "; ".join(exc.remedy or "" for exc in found))


def pol_dev_mode() -> bool:
    return flag("POL_PROOF_DEV_MODE")


def slow_factor() -> float:
    return 2.0 if flag("SLOW_TEST_ENV") else 1.0


def keep_logs() -> bool:
    return flag("NOMOS_TESTS_KEEP_LOGS")


def markdown_table() -> str:
    lines = ["# Environment variables", "", "Generated from `nomos_testing/settings.py`. A bool is 1/true/yes or "
             "0/false/no; a set variable whose value is not of its type stops `run`, `up` and `doctor` with exit 2 "
             "before anything starts, naming the variable.", "",
             "| variable | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{v.name}` | {v.kind + (' (' + ', '.join(v.choices) + ')' if v.choices else '')} | {v.default} | "
              f"{v.meaning} |" for v in VARIABLES]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
