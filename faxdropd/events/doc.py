"""docs/EVENTS.md, generated from the catalogue: `python -m faxdropd.events --markdown > docs/EVENTS.md`."""

from __future__ import annotations

from faxdropd.events import EVENTS

_PREAMBLE = """# Log events

Generated from `faxdropd/events/` by `python -m faxdropd.events --markdown > docs/EVENTS.md`; do not edit.

Every line faxdropd logs is one event: JSON with `timestamp`, `level`, `logger`, `event` and the event's fields
(under journald the same line is `MESSAGE`, and the fields are journal fields too: `journalctl -u faxdropd
JOB_ID=…`, `EVENT=job.failed`, `PRIORITY=4`). Levels: **info** normal progress; **warning** a document or a
folder needs a person's attention, or something degraded that recovers by itself; **error** the service cannot
do its job without a person; **critical** the daemon stops. `exception` is an error with its traceback.
"""


def markdown() -> str:
    """docs/EVENTS.md: one table per subject, in the catalogue's order."""
    out = [_PREAMBLE.rstrip("\n")]
    subject = ""
    for name, event in EVENTS.items():
        if name.split(".")[0] != subject:
            subject = name.split(".")[0]
            out += [f"\n## {subject}\n", "| event | level | fields | meaning | what to do |", "|---|---|---|---|---|"]
        fields = ", ".join(f"`{f}`" for f in event.fields) or "-"
        out.append(f"| `{name}` | {' or '.join(event.levels)} | {fields} | {event.meaning} | {event.todo} |")
    return "\n".join(out) + "\n"
