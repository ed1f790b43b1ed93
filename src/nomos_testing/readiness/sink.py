"""Recording into the run's event history without depending on its concrete class: CORE's
`observe.events.EventLog.emit(kind, **fields)`, or any object with `.record(kind, **fields)`."""

from __future__ import annotations

from typing import Any, Protocol


class EmitSink(Protocol):
    def emit(self, kind: str, **fields: Any) -> Any: ...


class RecordSink(Protocol):
    def record(self, kind: str, **fields: Any) -> Any: ...


EventSink = EmitSink | RecordSink


def record_event(sink: EventSink | None, kind: str, **fields: Any) -> None:
    if sink is None:
        return
    emit = getattr(sink, "emit", None)
    if callable(emit):
        emit(kind, **fields)
    else:
        sink.record(kind, **fields)  # type: ignore[union-attr]
