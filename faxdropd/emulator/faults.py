"""Fault injection for the InterFAX emulator: what can go wrong between faxdropd and InterFAX, on demand.

A fault is armed for one operation (or `*` = every SOAP operation) and fires on `count` matching calls
after skipping the first `after` of them. Kinds split by *when* they strike, because the daemon must react
differently to a call that never reached InterFAX and to one whose reply was lost after the fax was created.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Fire before the operation runs: nothing changes in the emulator's state.
BEFORE_WORK = frozenset({"latency", "error", "reset", "hang", "http500"})
# Fire after the operation ran (a fax may exist): the reply is lost, broken or late.
AFTER_WORK = frozenset({"truncate", "http500_after_accept", "reset_after_accept", "hang_after_accept"})
KINDS = BEFORE_WORK | AFTER_WORK

OPERATIONS = frozenset(
    {
        "StartFileUpload",
        "UploadFileChunk",
        "CancelFileUpload",
        "SendfaxEx_2",
        "FaxQuery",
        "FaxQuery2",
        "CancelFax",
    }
)

_DEFAULT_SECONDS = {"latency": 1.0, "hang": 3600.0, "hang_after_accept": 3600.0}
# -150 is InterFAX's "internal system error": the one code a client should treat as transient.
DEFAULT_ERROR_CODE = -150


class FaultSpecError(ValueError):
    """A fault description that cannot be armed (unknown kind or operation, bad numbers)."""


@dataclass
class Fault:
    op: str
    kind: str
    count: int = 1  # < 0: every matching call, for ever
    after: int = 0
    seconds: float = 0.0
    code: int = DEFAULT_ERROR_CODE
    id: int = 0
    skipped: int = 0
    fired: int = 0

    def matches(self, op: str) -> bool:
        return self.op in ("*", op)

    @property
    def exhausted(self) -> bool:
        return 0 <= self.count <= self.fired

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "op": self.op,
            "kind": self.kind,
            "count": self.count,
            "after": self.after,
            "seconds": self.seconds,
            "code": self.code,
            "skipped": self.skipped,
            "fired": self.fired,
        }


def _number(spec: Mapping[str, Any], key: str, kind: type[int] | type[float], default: float) -> Any:
    value = spec.get(key, default)
    # bool is an int in Python; `"count": true` is a mistake worth refusing.
    if value is None:
        return kind(default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)):
        raise FaultSpecError(f"{key} must be a number, got {value!r}")
    return kind(value)


def fault_from_spec(spec: Mapping[str, Any]) -> Fault:
    """Validates the JSON of `POST /_emulator/faults` (or `add_fault` keywords) into a Fault."""
    unknown = set(spec) - {"op", "kind", "count", "after", "seconds", "code"}
    if unknown:
        raise FaultSpecError(f"unknown fault fields: {sorted(unknown)}")
    op = spec.get("op", "*")
    kind = spec.get("kind")
    if op != "*" and op not in OPERATIONS:
        raise FaultSpecError(f"op must be '*' or one of {sorted(OPERATIONS)}, got {op!r}")
    if kind not in KINDS:
        raise FaultSpecError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    fault = Fault(
        op=str(op),
        kind=str(kind),
        count=_number(spec, "count", int, 1),
        after=_number(spec, "after", int, 0),
        seconds=_number(spec, "seconds", float, _DEFAULT_SECONDS.get(str(kind), 0.0)),
        code=_number(spec, "code", int, DEFAULT_ERROR_CODE),
    )
    if fault.after < 0 or fault.seconds < 0 or fault.count == 0:
        raise FaultSpecError("after and seconds must be >= 0 and count must not be 0")
    return fault


@dataclass
class FaultBook:
    """The armed faults. Shares the emulator's lock so a call sees faults and state consistently."""

    lock: threading.RLock
    faults: list[Fault] = field(default_factory=list)
    _next_id: int = 1

    def add(self, spec: Mapping[str, Any]) -> Fault:
        fault = fault_from_spec(spec)
        with self.lock:
            fault.id = self._next_id
            self._next_id += 1
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def listing(self) -> list[dict[str, Any]]:
        with self.lock:
            return [f.as_json() for f in self.faults]

    def take(self, op: str) -> Fault | None:
        """The fault this call of `op` gets, if any. Every armed fault counts the call towards its `after`,
        so two faults armed together keep independent schedules; at most one fires per call."""
        chosen: Fault | None = None
        with self.lock:
            for fault in self.faults:
                if not fault.matches(op):
                    continue
                if fault.skipped < fault.after:
                    fault.skipped += 1
                elif chosen is None:
                    fault.fired += 1
                    chosen = fault
            self.faults = [f for f in self.faults if not f.exhausted]
        return chosen
