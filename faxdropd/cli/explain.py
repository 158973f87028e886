"""`faxdropd explain FILE`: everything the daemon would decide about a file, without touching it.

Read only: the journal is opened read-only, nothing is claimed, moved or consumed; every decision is made by
the same functions the pipeline calls (preflight, routing, faxfields, policy), so the answer cannot drift.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

from faxdropd.config import Config, FolderConfig
from faxdropd.config.durations import format_duration, plural
from faxdropd.config.window import next_window_opening
from faxdropd.document import completeness, preflight, routing
from faxdropd.errors import Rejected
from faxdropd.files import filing, names
from faxdropd.interfax.faxfields import FaxOptionsLike, sendfax_fields
from faxdropd.jobs import admission as policy
from faxdropd.jobs.opening import journal_exists, open_journal
from faxdropd.watch.stability import is_wanted

# Stands in for the job's reference (fd-<16 hex>), which only exists once the daemon claims the file. No
# spaces: make_subject refuses a reference that FaxQuery2 could not find again.
PLACEHOLDER_REFERENCE = "fd-<job_id>"


def explain_file(cfg: Config, file: Path) -> tuple[list[str], int]:
    path = file.absolute()
    folder = cfg.folder_for(path)
    lines = [f"file:        {path}"]
    if folder is None:
        lines.append("folder:      none — the file is not in any configured hot folder; it would be ignored")
        return lines, 1
    lines += [
        f"folder:      {folder.name} ({folder.path}), watch={folder.watch}, "
        f"stable after {format_duration(folder.stable_seconds)}"
    ]
    if not is_wanted(path.name, folder.include, folder.ignore):  # the watcher never picks such a name up
        lines.append("name:        IGNORED — it matches an ignore pattern or no include pattern; it stays put")
        return lines, 1
    held = completeness.waiting_until(path, folder.incomplete_grace)  # as the watcher holds it
    if held is not None:
        until = datetime.fromtimestamp(held[1], UTC).isoformat(timespec="seconds")
        lines.append(f"waiting:     content incomplete ({held[0]}); will be checked until {until}")
        return lines, 1
    try:
        with preflight.open_document(path, folder.path, max_pages=cfg.limits.pages_per_fax) as checked:
            lines.append(
                f"pre-flight:  ok — {checked.file_type}, {checked.size} bytes, "
                f"{checked.pages if checked.pages is not None else '?'} pages, sha256 {checked.sha256}"
            )
            sha, pages = checked.sha256, checked.pages
    except Rejected as exc:
        lines.append(f"pre-flight:  REJECTED — {exc.reason} (it would be filed in {folder.failed})")
        return lines, 1
    found = names.find_sidecar(path) if "sidecar" in folder.to_from else None
    sidecar_path = found or names.sidecar_path(path)
    sidecar = None
    if found is not None:
        try:
            sidecar = routing.load_sidecar(sidecar_path)
        except routing.Rejection as exc:
            lines.append(f"sidecar:     REJECTED — {exc.reason} (it would be filed in {folder.failed})")
            return lines, 1
        lines.append(f"sidecar:     {sidecar_path.name} (filed with the document)")
    elif folder.to_from == ["sidecar"]:
        lines.append(
            f"sidecar:     none yet — this folder takes destinations only from {sidecar_path.name}; "
            "the document waits for it"
        )
    try:
        decided = routing.route(path.name, folder, sidecar, notify_domains=cfg.notify.allow_domains)
    except routing.Rejection as exc:
        lines.append(f"routing:     REJECTED — {exc.reason} (it would be filed in {folder.failed})")
        return lines, 1
    lines += [f"routing:     {line}" for line in decided.explain_lines()]
    if decided.source == "filename":  # which text of the name was read, and what it became
        lines += [f'number from file name: "{d.raw}" → {d.e164}' for d in decided.decisions]
    cover = _cover_line(decided.options, folder, pages, cfg.limits.pages_per_fax)
    if cover is not None:
        lines.append(cover)
        if "REJECTED" in cover:
            return lines, 1
    now = datetime.now(UTC)
    fields = sendfax_fields(
        decided.options,
        numbers=decided.numbers,
        document_name=path.name,
        folder_name=folder.name,
        reference=PLACEHOLDER_REFERENCE,
        now=now,
    )
    lines.append("SendfaxEx_2:")
    lines += [f"  {key:<17} {value}" for key, value in fields.items()]
    lines.append(_window_line(decided.options, now))
    lines += _policy_lines(cfg, folder, sha, decided.numbers)
    lines.append(f"outcome:     would be sent, then filed in {folder.sent} once delivered")
    return lines, 0


def _cover_line(options: FaxOptionsLike, folder: FolderConfig, pages: int | None, max_pages: int) -> str | None:
    cover = options.cover_page
    if cover is None:
        return None
    with contextlib.ExitStack() as stack:
        opened = policy.open_cover(cover, folder.path, pages, max_pages, stack)
        if isinstance(opened, str):
            return f"cover page:  REJECTED — {opened}"
        return f"cover page:  {cover} — {opened.file_type}, {opened.pages or '?'} pages, sent as the first document"


def _window_line(options: FaxOptionsLike, now: datetime) -> str:
    window = options.send_window
    if window is None:
        return "send window: always (Postpone = as soon as possible)"
    opening = next_window_opening(window, now)
    describe = getattr(window, "describe", None)
    text = describe() if callable(describe) else repr(window)
    if opening is None:
        return f"send window: {text} — open now"
    return f"send window: {text} — closed now; InterFAX holds the fax until {opening.isoformat()}"


def _policy_lines(cfg: Config, folder: FolderConfig, sha: str, numbers: list[str]) -> list[str]:
    limits = cfg.limits
    cap = f"{limits.faxes_per_hour}/hour" if limits.faxes_per_hour else "none"
    if folder.faxes_per_hour:
        cap += f", {folder.faxes_per_hour}/hour for this folder"
    lines = [
        f"limits:      faxes_per_hour {cap}; pages_per_fax {limits.pages_per_fax}; "
        f"duplicate_window {format_duration(limits.duplicate_window)}"
    ]
    retried = filing.retried_receipts(folder.path, sha)
    if retried:
        lines.append(
            f"retry:       `faxdropd retry` left {retried[0].name}: this content is sent on purpose, "
            "the duplicate check is skipped once"
        )
    if not journal_exists(cfg):
        lines.append("journal:     none yet — no earlier sends to compare with")
        return lines
    now = time.time()
    journal = open_journal(cfg, read_only=True)
    try:
        hit = policy.duplicate_of(journal, sha, numbers, limits.duplicate_window, now, exclude="")
        wait = policy.hourly_wait(journal, limits.faxes_per_hour, folder.name, folder.faxes_per_hour, now)
        overall = journal.submitted_since(now - policy.HOUR)
        mine = journal.submitted_since(now - policy.HOUR, folder=folder.name)
    finally:
        journal.close()
    if hit is not None and not retried:
        lines.append(
            f"duplicate:   YES — the same content went (or is going) to the same number as job {hit.id}; "
            "it would be held in failed/ with reason 'duplicate' (`faxdropd retry` sends it on purpose)"
        )
    else:
        lines.append("duplicate:   " + ("yes, but retried on purpose" if hit is not None else "no"))
    hour = f"{plural(len(overall), 'fax', 'faxes')} submitted in the last hour ({len(mine)} from this folder)"
    if wait is not None:
        until = datetime.fromtimestamp(wait, UTC).isoformat()
        lines.append(f"hourly cap:  {hour}; it would be held back (deferred, not dropped) until {until}")
    else:
        lines.append(f"hourly cap:  {hour}; it may go now")
    return lines
