"""What `faxdropd check-config` prints: the routing table, and warnings about paths on this host."""

from __future__ import annotations

import os
from pathlib import Path

from faxdropd.config.durations import format_duration, plural
from faxdropd.config.fields import SOURCES
from faxdropd.config.interfax import EMBEDDED
from faxdropd.config.model import Config, FolderConfig


def render_routing_table(cfg: Config) -> str:
    """The `faxdropd check-config` printout: the global settings, then one block per hot folder.

    Warnings are not part of it: the caller prints `cfg.warnings` and `check_paths(cfg)` where it wants them.
    """
    ix = cfg.interfax
    if ix.url == EMBEDDED:
        account = "embedded emulator (demo/demo)"
    else:
        source = "password inline"
        if ix.password_file:
            source = f"password from {ix.password_file}"
        elif ix.password_env:
            source = f"password from ${ix.password_env}"
        account = f"{ix.url} as {ix.username} ({source})"
    tracking = "not tracked"
    if cfg.delivery.track:
        tracking = f"tracked every {format_duration(cfg.delivery.poll_interval)}"
    tracking += f", unknown outcomes looked up after {format_duration(cfg.delivery.reconcile_grace)}"
    lines = [
        f"InterFAX      {account}",
        f"              SOAP {ix.soap_version}, timeout {format_duration(ix.timeout)}, "
        f"chunks of {ix.chunk_size} bytes, inline up to {ix.inline_max_bytes} bytes",
        f"state_dir     {cfg.state_dir}",
        f"workers       {cfg.workers}",
        f"delivery      {tracking}, at most {cfg.delivery.query_limit_per_minute} status queries a minute",
        f"retry         after {format_duration(cfg.retry.initial)}, x{cfg.retry.factor:g}, at most "
        f"{format_duration(cfg.retry.cap)} apart, give up after {format_duration(cfg.retry.lifetime)}",
        f"limits        {_per_hour(cfg.limits.faxes_per_hour)}, {cfg.limits.pages_per_fax} pages a fax, "
        f"duplicates held for {format_duration(cfg.limits.duplicate_window)}",
        f"log           {cfg.log.format}, {cfg.log.level}",
        f"metrics       {cfg.metrics.listen if cfg.metrics else 'off'}",
        f"journal       final jobs kept {_span(cfg.retention.journal)} (never less than the duplicate window)",
        "",
        f"{len(cfg.folders)} hot folder{'s' if len(cfg.folders) != 1 else ''}:",
    ]
    for folder in cfg.folders:
        fax = folder.fax
        lines += [
            "",
            f"[{folder.name}] {folder.path}",
            f"  destinations  {_destinations(folder)}",
            f"  numbers       region {folder.region}; allow {', '.join(folder.allow) or '(none)'}; "
            f"deny {', '.join(folder.deny) or '(none)'}",
            f"  watch         {folder.watch}, stable after {format_duration(folder.stable_seconds)}, "
            f"poll every {format_duration(folder.poll_interval)}, "
            f"rescan every {format_duration(folder.rescan_interval)}",
            f"  files         {' '.join(folder.include)}  (ignoring {' '.join(folder.ignore)})",
            f"  fax           {fax.page_size} {fax.orientation}, resolution {fax.resolution}, rendering "
            f"{fax.rendering}, {fax.retries} retries",
            f"                csid {fax.csid!r}, header {fax.page_header!r}, subject {fax.subject!r}"
            + (f", contact {fax.contact!r}" if fax.contact else "")
            + (f", replies to {fax.reply_address}" if fax.reply_address else ""),
            f"  cover page    {fax.cover_page or 'none'}",
            f"  send window   {fax.send_window.describe() if fax.send_window else 'always'}",
            f"  hourly cap    {_per_hour(folder.faxes_per_hour) if folder.faxes_per_hour else 'global only'}",
            f"  sent          {folder.sent}",
            f"  failed        {folder.failed}",
            f"  retention     {_retention(cfg, folder)}",
        ]
    return "\n".join(lines) + "\n"


def _retention(cfg: Config, folder: FolderConfig) -> str:
    kept = cfg.retention_for(folder)
    layout = "month folders (sent/YYYY-MM/)" if kept.archive == "dated" else "flat"
    return f"sent kept {_span(kept.sent)}, failed kept {_span(kept.failed)}, {layout}"


def _span(seconds: float) -> str:
    return format_duration(seconds) if seconds > 0 else "forever"


def _per_hour(count: int | None) -> str:
    return f"{plural(count, 'fax', 'faxes')} an hour" if count else "no hourly cap"


def _destinations(folder: FolderConfig) -> str:
    described = {
        "sidecar": "sidecar <document>.fax.yaml",
        "filename": "number in the file name",
        "folder": ("folder: " + ", ".join(folder.to)) if folder.to else "folder: (no number configured)",
    }
    return " -> ".join(described[source] for source in folder.to_from if source in SOURCES)


def check_paths(cfg: Config) -> list[str]:
    """Warnings about paths as they are on this host now (missing folders and so on); never an error.

    Folders need not exist when the config is loaded: shares mount later; the daemon copes at run time.
    """
    warnings: list[str] = []

    def stat(path: Path) -> os.stat_result | None:
        try:
            return path.stat()
        except OSError:
            return None

    for index, folder in enumerate(cfg.folders):
        label = f"folders[{index}] ({folder.name})"
        info = stat(folder.path)
        if info is None:
            warnings.append(f"{label}: {folder.path} does not exist (or cannot be reached)")
            continue
        if not folder.path.is_dir():
            warnings.append(f"{label}: {folder.path} is not a directory")
            continue
        if not os.access(folder.path, os.R_OK | os.W_OK | os.X_OK):
            warnings.append(f"{label}: {folder.path} is not readable and writable by this user")
        for key in ("sent", "failed"):
            target: Path = getattr(folder, key)
            target_info = stat(target)
            if target_info is None:
                continue  # created by the daemon on first use
            if not target.is_dir():
                warnings.append(f"{label}: {key} {target} is not a directory")
            elif target_info.st_dev != info.st_dev:
                warnings.append(f"{label}: {key} {target} is on another filesystem; documents are copied, not renamed")
        if folder.fax.cover_page is not None and stat(folder.fax.cover_page) is None:
            warnings.append(f"{label}: cover page {folder.fax.cover_page} does not exist")
    if stat(cfg.state_dir) is None:
        warnings.append(f"state_dir: {cfg.state_dir} does not exist yet")
    if isinstance(cfg.interfax.verify_tls, str) and stat(Path(cfg.interfax.verify_tls)) is None:
        warnings.append(f"interfax.verify_tls: CA bundle {cfg.interfax.verify_tls} does not exist")
    return warnings
