"""`faxdropd explain FILE`: everything the daemon would decide about a file, without touching it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from faxdropd import preflight, routing
from faxdropd.config import Config
from faxdropd.faxfields import sendfax_fields
from faxdropd.journal import Journal


def explain_file(cfg: Config, file: Path) -> tuple[list[str], int]:
    path = file.absolute()
    folder = cfg.folder_for(path)
    lines = [f"file:        {path}"]
    if folder is None:
        lines.append("folder:      none — the file is not in any configured hot folder; it would be ignored")
        return lines, 1
    lines += [f"folder:      {folder.name} ({folder.path}), watch={folder.watch}, "
              f"stable after {folder.stable_seconds:g} s"]
    try:
        with preflight.open_document(path, folder.path, max_pages=cfg.limits.pages_per_fax) as checked:
            lines.append(f"pre-flight:  ok — {checked.file_type}, {checked.size} bytes, "
                         f"{checked.pages if checked.pages is not None else '?'} pages, sha256 {checked.sha256}")
            sha: str | None = checked.sha256
    except preflight.Rejected as exc:
        lines.append(f"pre-flight:  REJECTED — {exc.reason} (it would be filed in {folder.failed})")
        return lines, 1
    sidecar_path = path.with_name(routing.sidecar_name(path.name))
    sidecar = None
    if "sidecar" in folder.to_from and sidecar_path.exists():
        loaded = routing.load_sidecar(sidecar_path)
        if isinstance(loaded, routing.Rejection):
            lines.append(f"sidecar:     REJECTED — {loaded.reason}")
            return lines, 1
        sidecar = loaded
        lines.append(f"sidecar:     {sidecar_path.name}")
    decided = routing.route(path.name, folder, sidecar)
    if isinstance(decided, routing.Rejection):
        lines.append(f"routing:     REJECTED — {decided.reason} (it would be filed in {folder.failed})")
        return lines, 1
    lines += [f"routing:     {line}" for line in decided.explain_lines()]
    fields = sendfax_fields(decided.options, numbers=decided.numbers, document_name=path.name,
                            folder_name=folder.name, reference="fd-<job id>", now=datetime.now(UTC))
    lines.append("SendfaxEx_2:")
    lines += [f"  {key:<17} {value}" for key, value in fields.items()]
    limits = cfg.limits
    cap = f"{limits.faxes_per_hour}/hour" if limits.faxes_per_hour else "none"
    if folder.faxes_per_hour:
        cap += f", {folder.faxes_per_hour}/hour for this folder"
    lines.append(f"limits:      faxes_per_hour {cap}; pages_per_fax {limits.pages_per_fax}; "
                 f"duplicate_window {limits.duplicate_window:g} s")
    if sha and (cfg.state_dir / "journal.sqlite3").exists():
        journal = Journal(cfg.state_dir, read_only=True)
        try:
            earlier = journal.sends_of(sha, time.time() - limits.duplicate_window, exclude="")
        finally:
            journal.close()
        hits = [j for j in earlier if set(j.numbers) & set(decided.numbers)]
        if hits:
            lines.append(f"duplicate:   YES — the same content went to the same number as job {hits[0].id}; "
                         "it would be held in failed/ with reason 'duplicate' (use `faxdropd retry` to send)")
        else:
            lines.append("duplicate:   no")
    lines.append(f"outcome:     would be sent, then filed in {folder.sent} once delivered")
    return lines, 0
