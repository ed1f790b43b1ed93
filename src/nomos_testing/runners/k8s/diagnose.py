"""What a pod's status says, in words: running or not, why not (phase, container state, events), and whether
waiting longer can help. Pure functions over the API server's JSON, so every rule is unit-tested."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Waiting reasons that no amount of waiting fixes: fail the deployment at once, naming them.
FATAL_WAITING = frozenset({"ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CrashLoopBackOff",
                           "CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
EVENTS_SHOWN = 5

REMEDIES = {
    "ImagePullBackOff": "the cluster cannot pull the node image: load it (`nomos-testing image load` for kind / "
                        "minikube / k3d) or push it to a registry the cluster can pull from and set "
                        "NOMOS_TESTNET_IMAGE (and NOMOS_TESTNET_IMAGE_PULL_POLICY=Always)",
    "ErrImagePull": "see ImagePullBackOff",
    "ErrImageNeverPull": "NOMOS_TESTNET_IMAGE_PULL_POLICY=Never but the image is not on the node: load it "
                         "(`nomos-testing image load`)",
    "InvalidImageName": "fix NOMOS_TESTNET_IMAGE",
    "CrashLoopBackOff": "the node exits at start: read its log (below, and logs/ of the run directory)",
    "CreateContainerConfigError": "a ConfigMap or Secret the pod needs is missing: read k8s/*.yaml of the run",
    "Unschedulable": "no node has room for the pod, or its data volume cannot be bound: `kubectl describe pod`, "
                     "a default StorageClass (or K8S_RUNNER_STORAGE_CLASS)",
}


@dataclass(frozen=True)
class PodView:
    """One pod's state, as the runner judges it."""

    name: str
    phase: str                 # Pending, Running, Succeeded, Failed, Unknown; "absent" when there is no pod
    running: bool              # phase Running and the node container running
    state: str                 # "running", "waiting: ImagePullBackOff (message)", "terminated: exit 1 (Error)"
    reason: str | None         # the waiting / terminated reason, or "Unschedulable"
    restarts: int
    last_exit: str | None      # "exit 137 (OOMKilled)" of the previous instance, when it restarted
    uid: str = ""

    @property
    def fatal(self) -> bool:
        return self.reason in FATAL_WAITING


def _container_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return statuses[0] if statuses else {}


def _describe_state(state: Mapping[str, Any]) -> tuple[str, str | None]:
    if "running" in state:
        return "running", None
    if "waiting" in state:
        waiting = state["waiting"] or {}
        reason = waiting.get("reason") or "Waiting"
        message = waiting.get("message")
        return f"waiting: {reason}" + (f" ({str(message)[:200]})" if message else ""), reason
    if "terminated" in state:
        done = state["terminated"] or {}
        reason = done.get("reason") or "Terminated"
        return f"terminated: exit {done.get('exitCode')} ({reason})", reason
    return "no container yet", None


def view(name: str, pod: Mapping[str, Any] | None) -> PodView:
    if pod is None:
        return PodView(name, "absent", False, "no pod", None, 0, None)
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Unknown")
    container = _container_status(pod)
    state_text, reason = _describe_state(container.get("state") or {})
    if not container:
        unschedulable = next((c for c in status.get("conditions") or []
                              if c.get("type") == "PodScheduled" and c.get("status") == "False"), None)
        if unschedulable is not None:
            reason = str(unschedulable.get("reason") or "Unschedulable")
            state_text = f"not scheduled: {unschedulable.get('message') or reason}"
    last = (container.get("lastState") or {}).get("terminated")
    last_exit = f"exit {last.get('exitCode')} ({last.get('reason') or 'Terminated'})" if last else None
    running = phase == "Running" and state_text == "running"
    return PodView(name, phase, running, state_text, reason, int(container.get("restartCount") or 0), last_exit,
                   str((pod.get("metadata") or {}).get("uid") or ""))


def events_about(events: Iterable[Mapping[str, Any]], names: Iterable[str]) -> list[str]:
    """The latest events whose object is one of `names` (the pod, its volume claim), warnings first, as
    `Reason: message` lines."""
    wanted = set(names)
    found = [e for e in events if (e.get("involvedObject") or {}).get("name") in wanted]
    found.sort(key=lambda e: (e.get("type") != "Warning",
                              -_timestamp(e)))
    lines = []
    for event in found[:EVENTS_SHOWN]:
        count = int(event.get("count") or 1)
        lines.append(f"{event.get('reason')}: {str(event.get('message') or '').strip()}"
                     + (f" (×{count})" if count > 1 else ""))
    return lines


def _timestamp(event: Mapping[str, Any]) -> float:
    from datetime import datetime

    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        value = event.get(key) or ((event.get("metadata") or {}).get("creationTimestamp") if key == "firstTimestamp"
                                   else None)
        if value:
            try:
                return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def describe(pod: PodView, events: list[str], log_tail: str = "") -> str:
    """One paragraph per pod: `validator-1 (pod validator-1-0): phase Pending, waiting: ImagePullBackOff (…);
    restarts 0; events: …; fix: …; log tail`."""
    text = f"pod {pod.name}: phase {pod.phase}, {pod.state}"
    if pod.restarts:
        text += f"; restarted {pod.restarts} time(s)" + (f", last {pod.last_exit}" if pod.last_exit else "")
    if events:
        text += "\n    events: " + "\n            ".join(events)
    remedy = REMEDIES.get(pod.reason or "")
    if remedy:
        text += f"\n    fix: {remedy}"
    if log_tail.strip():
        text += "\n    log tail:\n      " + "\n      ".join(log_tail.rstrip().splitlines())
    return text
