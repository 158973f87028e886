"""`faxdropd explain FILE`: everything the daemon would decide about a file, without touching it.

Read only: the journal is opened read-only, nothing is claimed, moved or consumed; every decision is made by
the same functions the pipeline calls (preflight, routing, faxfields, policy), so the answer cannot drift.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from faxdropd.config import Config, FolderConfig
from faxdropd.config.window import next_window_opening
from faxdropd.document import preflight, routing
from faxdropd.files import filing
from faxdropd.interfax.faxfields import FaxOptionsLike, sendfax_fields
from faxdropd.jobs import admission as policy
from faxdropd.jobs.journal import Journal
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
        f"folder:      {folder.name} ({folder.path}), watch={folder.watch}, stable after {folder.stable_seconds:g} s"
    ]
    if not is_wanted(path.name, folder.include, folder.ignore):  # the watcher never picks such a name up
        lines.append("name:        IGNORED — it matches an ignore pattern or no include pattern; it stays put")
        return lines, 1
    try:
        with preflight.open_document(path, folder.path, max_pages=cfg.limits.pages_per_fax) as checked:
            lines.append(
                f"pre-flight:  ok — {checked.file_type}, {checked.size} bytes, "
                f"{checked.pages if checked.pages is not None else '?'} pages, sha256 {checked.sha256}"
            )
            sha = checked.sha256
    except preflight.Rejected as exc:
        lines.append(f"pre-flight:  REJECTED — {exc.reason} (it would be filed in {folder.failed})")
        return lines, 1
    sidecar_path = path.with_name(routing.sidecar_name(path.name))
    sidecar = None
    if "sidecar" in folder.to_from and sidecar_path.exists():
        loaded = routing.load_sidecar(sidecar_path)
        if isinstance(loaded, routing.Rejection):
            lines.append(f"sidecar:     REJECTED — {loaded.reason} (it would be filed in {folder.failed})")
            return lines, 1
        sidecar = loaded
        lines.append(f"sidecar:     {sidecar_path.name} (filed with the document)")
    elif folder.to_from == ["sidecar"]:
        lines.append(
            f"sidecar:     none yet — this folder takes destinations only from {sidecar_path.name}; "
            "the document waits for it"
        )
    decided = routing.route(path.name, folder, sidecar)
    if isinstance(decided, routing.Rejection):
        lines.append(f"routing:     REJECTED — {decided.reason} (it would be filed in {folder.failed})")
        return lines, 1
    lines += [f"routing:     {line}" for line in decided.explain_lines()]
    if decided.source == "filename":  # which text of the name was read, and what it became
        lines += [f'number from file name: "{d.raw}" → {d.e164}' for d in decided.decisions]
    cover = _cover_line(decided.options, folder, cfg.limits.pages_per_fax)
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


def _cover_line(options: FaxOptionsLike, folder: FolderConfig, max_pages: int) -> str | None:
    cover = options.cover_page
    if cover is None:
        return None
    hot = folder.path.resolve()
    boundary = hot if cover.is_relative_to(hot) else cover.parent
    try:
        with preflight.open_document(cover, boundary, max_pages=max_pages) as doc:
            return f"cover page:  {cover} — {doc.file_type}, {doc.pages or '?'} pages, sent as the first document"
    except preflight.Rejected as exc:
        return f"cover page:  REJECTED — {cover}: {exc.reason}"
    except FileNotFoundError:
        return f"cover page:  REJECTED — {cover} does not exist"


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
        f"duplicate_window {limits.duplicate_window:g} s"
    ]
    retried = filing.retried_receipts(folder.path, sha)
    if retried:
        lines.append(
            f"retry:       `faxdropd retry` left {retried[0].name}: this content is sent on purpose, "
            "the duplicate check is skipped once"
        )
    if not (cfg.state_dir / "journal.sqlite3").exists():
        lines.append("journal:     none yet — no earlier sends to compare with")
        return lines
    now = time.time()
    journal = Journal(cfg.state_dir, read_only=True)
    try:
        earlier = journal.sends_of(sha, now - limits.duplicate_window, exclude="") if limits.duplicate_window else []
        overall = journal.submitted_since(now - policy.HOUR)
        mine = journal.submitted_since(now - policy.HOUR, folder=folder.name)
    finally:
        journal.close()
    hits = [j for j in earlier if set(j.numbers) & set(numbers)]
    if hits and not retried:
        lines.append(
            f"duplicate:   YES — the same content went (or is going) to the same number as job {hits[0].id}; "
            "it would be held in failed/ with reason 'duplicate' (`faxdropd retry` sends it on purpose)"
        )
    else:
        lines.append("duplicate:   " + ("yes, but retried on purpose" if hits else "no"))
    waits = [
        w
        for w in (
            policy.hourly_decision(len(overall), limits.faxes_per_hour, now, overall[0] if overall else None),
            policy.hourly_decision(len(mine), folder.faxes_per_hour, now, mine[0] if mine else None),
        )
        if w is not None
    ]
    hour = f"{len(overall)} faxes submitted in the last hour ({len(mine)} from this folder)"
    if waits:
        until = datetime.fromtimestamp(max(waits), UTC).isoformat()
        lines.append(f"hourly cap:  {hour}; it would be held back (deferred, not dropped) until {until}")
    else:
        lines.append(f"hourly cap:  {hour}; it may go now")
    return lines
