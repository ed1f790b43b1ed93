"""The report's figures, as plotly figure specifications (plain dicts: no figure objects to validate, so a
report renders in milliseconds). Each builder returns a `Figure`: a spec, or none and the reason why.

Times are seconds since the start of the run (`RunData.start_time`), so a figure reads like events.jsonl's
`elapsed_s`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nomos_testing.faults.model import LASTING_KINDS
from nomos_testing.observe.html.rundir import RunData

_FAULT_COLOURS = {"partition": "rgba(214,39,40,0.14)", "kill": "rgba(140,20,20,0.16)",
                  "stop": "rgba(127,127,127,0.18)", "pause": "rgba(255,127,14,0.18)",
                  "delay": "rgba(31,119,180,0.12)", "loss": "rgba(23,190,207,0.14)"}
_DEFAULT_FAULT_COLOUR = "rgba(148,103,189,0.16)"
_INSTANT_FAULT_COLOUR = "rgba(148,103,189,0.7)"
# node events drawn as markers on the height timeline: kind -> (symbol, colour)
_NODE_MARKERS = {"node.start": ("triangle-up", "#2ca02c"), "node.stop": ("square", "#7f7f7f"),
                 "node.kill": ("x", "#d62728"), "node.crashed": ("x-thin-open", "#8b0000"),
                 "node.restart": ("circle-open", "#9467bd"), "node.pause": ("diamond", "#ff7f0e"),
                 "node.resume": ("diamond-open", "#ff7f0e"), "node.join": ("star", "#1f77b4")}
_PHASES = {"phase.drive": "window", "phase.cooldown": "cooldown", "phase.heal": "final heal",
           "phase.recovery": "recovery", "phase.evaluate": "evaluate"}
MAX_POINTS_PER_TRACE = 4000


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    spec: dict[str, Any] | None = None
    note: str | None = None  # why there is no figure, or what to keep in mind reading it


def _layout(title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 15}}, "height": 380,
        "margin": {"l": 60, "r": 20, "t": 60, "b": 45},
        "xaxis": {"title": {"text": "seconds since the run started"}, "zeroline": False, "gridcolor": "#eceff1"},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero", "gridcolor": "#eceff1"},
        "legend": {"orientation": "h", "y": -0.18}, "hovermode": "closest",
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",  # a template by name would need validation
    }
    layout.update(extra)
    return layout


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS_PER_TRACE:
        return points
    step = len(points) / MAX_POINTS_PER_TRACE
    return [points[int(i * step)] for i in range(MAX_POINTS_PER_TRACE - 1)] + [points[-1]]


def _steps(samples: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points where a step function changes, and its last point."""
    out: list[tuple[float, float]] = []
    last: tuple[float, float] | None = None
    for point in samples:
        if not out or point[1] != out[-1][1]:
            out.append(point)
        last = point
    if last is not None and out[-1] != last:
        out.append(last)
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def heights_by_node(data: RunData, origin: float) -> tuple[dict[str, list[tuple[float, float]]], str]:
    """Each node's height over time: from views.jsonl, else the metrics snapshot's `height` series."""
    per_node: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for view in data.views:
        when, height = _number(view.get("time")), _number(view.get("height"))
        if when is not None and height is not None and isinstance(view.get("node"), str):
            per_node[view["node"]].append((round(when - origin, 3), height))
    if per_node:
        return {node: _steps(points) for node, points in per_node.items()}, "views.jsonl"
    for series in data.series:
        if series.get("name") == "height" and isinstance(series.get("node"), str):
            points = [(round(float(t) - origin, 3), float(v)) for t, v in series.get("points") or []
                      if _number(t) is not None and _number(v) is not None]
            per_node[series["node"]].extend(points)
    return dict(per_node), "metrics/series.jsonl"


@dataclass(frozen=True)
class Band:
    start: float
    end: float | None  # None: still in force at the end of the record
    label: str
    kind: str

    @property
    def instant(self) -> bool:
        """A restart or a join: it happens, it does not last (drawn as a line)."""
        return self.kind not in {kind.value for kind in LASTING_KINDS}


def fault_bands(data: RunData, origin: float) -> list[Band]:
    """Faults from their fault.apply / fault.remove events, else from the report's `faults`."""
    applied: dict[Any, dict[str, Any]] = {}
    removed: dict[Any, float] = {}
    for event in data.events:
        when = _number(event.get("time"))
        if when is None:
            continue
        if event.get("kind") == "fault.apply":
            applied[event.get("index", len(applied))] = event
        elif event.get("kind") == "fault.remove":
            removed.setdefault(event.get("index"), when - origin)
    heal = next((float(e["time"]) - origin for e in data.events
                 if e.get("kind") == "phase.heal" and _number(e.get("time")) is not None), None)
    bands = []
    for index, event in applied.items():
        kind = str(event.get("fault", "fault"))
        targets = event.get("targets") or []
        label = f"{kind} {', '.join(map(str, targets))}" if kind != "partition" else _partition_label(event)
        start = float(event["time"]) - origin
        end = removed.get(index, heal if heal is not None and heal >= start else None)
        bands.append(Band(start, end, label, kind))
    if bands or data.report is None:
        return bands
    window = next((_number(e.get("time")) for e in data.events if e.get("kind") == "phase.drive"), None)
    if window is None:
        return []
    for fault in data.report.faults:
        if fault.applied_at_s is not None:
            end = None if fault.removed_at_s is None else window - origin + fault.removed_at_s
            bands.append(Band(window - origin + fault.applied_at_s, end, f"{fault.kind} {', '.join(fault.targets)}",
                              fault.kind))
    return bands


def _partition_label(event: dict[str, Any]) -> str:
    groups = (event.get("params") or {}).get("groups")
    if isinstance(groups, list) and groups:
        return "partition " + " | ".join(",".join(map(str, g)) if isinstance(g, list) else str(g) for g in groups)
    return "partition " + ", ".join(map(str, event.get("targets") or []))


def _height_at(points: list[tuple[float, float]], when: float) -> float:
    height = 0.0
    for at, value in points:
        if at > when:
            break
        height = value
    return height


def _lib_traces(data: RunData, origin: float) -> list[dict[str, Any]]:
    """Each node's LIB height (dashed), from the metrics snapshot's `lib` series when there is one."""
    traces = []
    for series in sorted((s for s in data.series if s.get("name") == "lib"), key=lambda s: str(s.get("node"))):
        points = _thin(_steps((round(float(t) - origin, 3), float(v)) for t, v in series.get("points") or []
                              if _number(t) is not None and _number(v) is not None))
        if points:
            traces.append({"type": "scatter", "mode": "lines", "name": f"LIB {series.get('node')}",
                           "line": {"shape": "hv", "width": 1, "dash": "dash"}, "opacity": 0.7,
                           "x": [p[0] for p in points], "y": [p[1] for p in points]})
    return traces


def height_timeline(data: RunData) -> Figure:
    title = "Block height per node"
    origin = data.start_time
    if origin is None:
        return Figure("heights", title, note="no time reference: events.jsonl, run.json and views.jsonl are absent")
    heights, source = heights_by_node(data, origin)
    if not heights:
        return Figure("heights", title, note="no node answered a poll (views.jsonl is empty or absent and there is "
                                              "no metrics snapshot)")
    traces: list[dict[str, Any]] = []
    for node in sorted(heights):
        points = _thin(heights[node])
        traces.append({"type": "scatter", "mode": "lines", "name": node, "line": {"shape": "hv", "width": 2},
                       "x": [p[0] for p in points], "y": [p[1] for p in points],
                       "hovertemplate": f"{node}<br>%{{x:.1f}} s: height %{{y}}<extra></extra>"})
    traces += _lib_traces(data, origin)
    last_time = max((points[-1][0] for points in heights.values() if points), default=0.0)
    markers: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"x": [], "y": [], "text": []})
    for event in data.events:
        event_kind, when, subject = str(event.get("kind")), _number(event.get("time")), event.get("node")
        if event_kind in _NODE_MARKERS and when is not None and isinstance(subject, str):
            at = round(when - origin, 3)
            detail = str(event.get("reason") or event.get("mechanism") or "")
            marker = markers[event_kind]
            marker["x"].append(at)
            marker["y"].append(_height_at(heights.get(subject, []), at))
            marker["text"].append(f"{event_kind} {subject}<br>{detail.splitlines()[0][:90] if detail else ''}")
            last_time = max(last_time, at)
    for event_kind, marker in markers.items():
        symbol, colour = _NODE_MARKERS[event_kind]
        traces.append({"type": "scatter", "mode": "markers", "name": event_kind, "x": marker["x"], "y": marker["y"],
                       "text": marker["text"], "hovertemplate": "%{text}<br>%{x:.1f} s<extra></extra>",
                       "marker": {"symbol": symbol, "color": colour, "size": 11, "line": {"width": 1.5}}})
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    bands = fault_bands(data, origin)
    for number, band in enumerate(bands):
        end = band.end if band.end is not None else last_time
        colour = _FAULT_COLOURS.get(band.kind, _DEFAULT_FAULT_COLOUR)
        if band.instant:
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": band.start, "x1": band.start, "y0": 0,
                           "y1": 1, "layer": "below", "line": {"width": 3, "color": _INSTANT_FAULT_COLOUR}})
        else:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": band.start,
                           "x1": max(end, band.start + 0.2), "y0": 0, "y1": 1, "layer": "below",
                           "line": {"width": 0}, "fillcolor": colour})
        annotations.append({"x": band.start, "xref": "x", "y": 1.0 - 0.07 * (number % 4), "yref": "paper",
                            "xanchor": "left", "yanchor": "top", "showarrow": False, "text": band.label[:60],
                            "font": {"size": 10, "color": "#444"}})
    for event in data.events:
        label, when = _PHASES.get(str(event.get("kind"))), _number(event.get("time"))
        if label and when is not None:
            at = round(when - origin, 3)
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": at, "x1": at, "y0": 0, "y1": 1,
                           "line": {"width": 1, "dash": "dot", "color": "#999"}})
            annotations.append({"x": at, "xref": "x", "y": 0.0, "yref": "paper", "xanchor": "left",
                                "yanchor": "bottom", "showarrow": False, "text": label,
                                "font": {"size": 9, "color": "#777"}})
    layout = _layout(title, "height", shapes=shapes, annotations=annotations, height=440)
    note = (f"source: {source}{'; dashed: LIB heights from the metrics snapshot' if data.series else ''}; "
            f"shaded bands: faults while in force, solid lines: restarts and joins ({len(bands)} in all); "
            "dotted lines: phases")
    return Figure("heights", title, {"data": traces, "layout": layout}, note)


def transactions(data: RunData) -> Figure | None:
    """Submitted / accepted transactions over time, and transactions in the blocks the feed saw."""
    submits = [e for e in data.events if e.get("kind") == "tx.submit"]
    if not submits:
        return None
    origin = data.start_time or 0.0
    title = "Transactions over time"
    accepted: list[float] = []
    refused: list[float] = []
    for event in submits:
        when = _number(event.get("sent_at")) or _number(event.get("time"))
        if when is not None:
            (accepted if event.get("accepted") else refused).append(round(when - origin, 3))
    traces: list[dict[str, Any]] = []
    for name, times in (("accepted (cumulative)", sorted(accepted)), ("refused (cumulative)", sorted(refused))):
        if times:
            points = _thin([(t, float(i + 1)) for i, t in enumerate(times)])
            traces.append({"type": "scatter", "mode": "lines", "name": name, "line": {"shape": "hv"},
                           "x": [p[0] for p in points], "y": [p[1] for p in points]})
    in_blocks = sorted((round(float(b["time"]) - origin, 3), int(b.get("tx_count") or 0)) for b in data.blocks
                       if _number(b.get("time")) is not None and b.get("tx_count"))
    if in_blocks:
        total, points = 0, []
        for when, count in in_blocks:
            total += count
            points.append((when, float(total)))
        points = _thin(points)
        traces.append({"type": "scatter", "mode": "lines", "name": "in blocks seen (cumulative, forks included)",
                       "line": {"shape": "hv", "dash": "dash"}, "x": [p[0] for p in points],
                       "y": [p[1] for p in points]})
    return Figure("transactions", title, {"data": traces, "layout": _layout(title, "transactions")},
                  "from the tx.submit events of events.jsonl and the tx counts of blocks.jsonl")


def latency_figures(data: RunData) -> dict[str, Any] | None:
    if data.report is None:
        return None
    for result in data.report.expectations:
        latency = result.figures.get("latency") if result.name == "tx_inclusion" else None
        if isinstance(latency, dict) and latency.get("count"):
            return latency
    return None


def inclusion_latency(data: RunData) -> Figure | None:
    latency = latency_figures(data)
    if latency is None:
        return None
    title = f"Transaction inclusion latency ({latency.get('count')} transactions)"
    names = [("p50", "p50_s"), ("p95", "p95_s"), ("max", "max_s")]
    shown = [(label, float(latency[key])) for label, key in names if _number(latency.get(key)) is not None]
    trace = {"type": "bar", "name": "seconds", "x": [label for label, _ in shown], "y": [v for _, v in shown],
             "text": [f"{v:.2f} s" for _, v in shown], "textposition": "outside", "marker": {"color": "#1f77b4"}}
    layout = _layout(title, "seconds from submission to inclusion", height=320)
    layout["xaxis"] = {"title": {"text": "percentile"}}
    return Figure("latency", title, {"data": [trace], "layout": layout},
                  "from tx_inclusion's figures (in slots: " + ", ".join(
                      f"{label} {latency.get(key.replace('_s', '_slots'))}" for label, key in names) + ")")


def dispersals(data: RunData) -> Figure | None:
    events = [e for e in data.events if e.get("kind") == "da.disperse"]
    if not events:
        return None
    origin = data.start_time or 0.0
    title = f"DA dispersals ({len(events)}): latency per executor"
    groups: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"x": [], "y": [], "text": []})
    for event in events:
        when, latency = _number(event.get("sent_at")) or _number(event.get("time")), _number(event.get("latency_ms"))
        if when is None or latency is None:
            continue
        name = f"{event.get('executor') or '?'}" + ("" if event.get("ok") else " (failed)")
        groups[name]["x"].append(round(when - origin, 3))
        groups[name]["y"].append(latency)
        groups[name]["text"].append(f"blob {str(event.get('blob_id') or '')[:12]} {event.get('error') or 'ok'}")
    traces = [{"type": "scatter", "mode": "markers", "name": name, **points,
               "marker": {"symbol": "x" if name.endswith("(failed)") else "circle", "size": 8},
               "hovertemplate": "%{text}<br>%{x:.1f} s: %{y:.0f} ms<extra></extra>"}
              for name, points in sorted(groups.items())]
    return Figure("dispersals", title, {"data": traces, "layout": _layout(title, "dispersal latency (ms)")},
                  "from the da.disperse events of events.jsonl")


def _why_no_series(data: RunData, name: str) -> str:
    """The snapshot's own reason first (meta.json errors: the series', else "prometheus" when the runner had
    none), then what the files show."""
    errors = (data.metrics_meta or {}).get("errors")
    errors = errors if isinstance(errors, dict) else {}
    if errors.get(name):
        return f"the metrics snapshot could not read `{name}`: {errors[name]}"
    if errors.get("prometheus"):
        return f"no metrics: {errors['prometheus']}"
    if not (data.run_dir / "metrics" / "series.jsonl").is_file():
        return "metrics/series.jsonl is absent: the runner had no Prometheus (or the snapshot failed)"
    if not data.series:
        return "the metrics snapshot holds no series (the run ended before Prometheus scraped the nodes)"
    return f"no `{name}` series in the metrics snapshot"


def metric_series(data: RunData, name: str, title: str, y_title: str, scale: float = 1.0) -> Figure:
    if not data.series:
        return Figure(name, title, note=_why_no_series(data, name))
    origin = data.start_time or 0.0
    traces = []
    for series in sorted((s for s in data.series if s.get("name") == name), key=lambda s: str(s.get("node"))):
        points = _thin([(round(float(t) - origin, 3), float(v) * scale) for t, v in series.get("points") or []
                        if _number(t) is not None and _number(v) is not None])
        traces.append({"type": "scatter", "mode": "lines", "name": str(series.get("node") or "?"),
                       "x": [p[0] for p in points], "y": [p[1] for p in points]})
    if not traces:
        return Figure(name, title, note=_why_no_series(data, name))
    return Figure(name, title, {"data": traces, "layout": _layout(title, y_title)},
                  "from metrics/series.jsonl (Prometheus)")
