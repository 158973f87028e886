"""Which instance this daemon is, and moving a 0.1 work area (`<hot>/.faxdropd/<job>__<name>`) into its own.

The instance id names the work areas `<hot>/.faxdropd/<instance>/`. It is decided at the first start (the
config's `instance:`, else `<hostname>-<hash of state_dir>`) and kept in the journal's meta table: a host
renamed later keeps finding its claimed files, and a config that names another instance than the journal's
is refused, since that journal's work files are in the other area.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from contextlib import suppress
from pathlib import Path

import structlog

from faxdropd.config import Config
from faxdropd.errors import ConfigError
from faxdropd.files import filing, workarea
from faxdropd.files.fsutil import fsync_dir, write_temp
from faxdropd.jobs import leases
from faxdropd.jobs.journal import NOT_FINAL, Journal

log = structlog.get_logger("faxdropd.jobs.instances")

INSTANCE_META = "instance"
INSTANCE_FILE = "instance"  # in state_dir, when the journal is shared


def default_instance(state_dir: Path) -> str:
    """`<hostname>-<8 hex of the state_dir's real path>`: two daemons on one host differ by their state_dir."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()).lstrip(".-")[:40] or "host"
    digest = hashlib.sha256(os.fsencode(os.path.realpath(state_dir))).hexdigest()[:8]
    return f"{host}-{digest}"


def resolve(journal: Journal, cfg: Config) -> str:
    """This daemon's instance id, recorded in the journal at the first start; ConfigError on a mismatch.

    A shared journal (PostgreSQL) holds many instances: there the id is kept in state_dir (INSTANCE_FILE) and
    registered in the journal's `instances` table, and the journal then works this instance's jobs only.
    """
    if journal.shared:
        name = _kept_locally(cfg)
        journal.lease = cfg.journal_lease
        leases.register(journal, name)
        return name
    stored = journal.get_meta(INSTANCE_META)
    if stored is None:
        name = cfg.instance or default_instance(cfg.state_dir)
        journal.set_meta(INSTANCE_META, name)
        log.info("instance.created", instance=name)
        return name
    if cfg.instance is not None and cfg.instance != stored:
        raise ConfigError(
            f"instance: {cfg.instance} but the journal in {cfg.state_dir} belongs to instance {stored}; "
            "its claimed files are in that instance's work areas",
            "instance",
        )
    return stored


def stored_instance(journal: Journal, cfg: Config) -> str:
    """For commands that read the journal: its recorded id, else what the first start will choose."""
    if journal.shared:
        with suppress(OSError):
            return (cfg.state_dir / INSTANCE_FILE).read_text().strip()
        return cfg.instance or default_instance(cfg.state_dir)
    return journal.get_meta(INSTANCE_META) or cfg.instance or default_instance(cfg.state_dir)


def _kept_locally(cfg: Config) -> str:
    path = cfg.state_dir / INSTANCE_FILE
    try:
        stored = path.read_text().strip()
    except FileNotFoundError:
        name = cfg.instance or default_instance(cfg.state_dir)
        write_temp(path.parent, f"{name}\n".encode(), "instance").rename(path)
        fsync_dir(path.parent)
        log.info("instance.created", instance=name)
        return name
    if cfg.instance is not None and cfg.instance != stored:
        raise ConfigError(
            f"instance: {cfg.instance} but the state in {cfg.state_dir} belongs to instance {stored}; "
            "its claimed files are in that instance's work areas",
            "instance",
        )
    return stored


def migrate_legacy(journal: Journal, hots: list[Path]) -> None:
    """Move this journal's live 0.1 work files into this instance's area; leave every other file alone.

    Crash-safe by order: the rename (atomic, durable after the fsyncs) comes before the journal update, and
    a restart redoes the pass from the journal: a job whose old path is gone and new path exists is only
    re-pointed. Files the journal does not know may be another 0.1 host's claims: they are never touched.
    """
    for job in journal.by_state(*NOT_FINAL):
        hot = Path(job.hot)
        root = hot / filing.WORK_DIR
        moved: dict[str, str] = {}
        for field in ("work_path", "sidecar_path"):
            value = getattr(job, field)
            if not value or Path(value).parent != root or not root.is_dir():
                continue  # already in an instance area, or the share is away (next start)
            old = Path(value)
            new = workarea.work_dir(hot) / old.name
            if os.path.lexists(old) and not os.path.lexists(new):
                old.rename(new)
                fsync_dir(new.parent)
                fsync_dir(root)
            if os.path.lexists(new):
                moved[field] = str(new)
        if moved:
            journal.update(job, "work file moved into the instance's work area", **moved)
            log.info("workarea.migrated", job_id=job.id, file=job.name)
    for hot in hots:
        _report_strangers(hot)


def _report_strangers(hot: Path) -> None:
    try:
        entries = [e.name for e in os.scandir(hot / filing.WORK_DIR) if e.is_file(follow_symlinks=False)]
    except OSError:
        return
    strangers = [n for n in entries if "__" in n]
    if strangers:
        log.warning(
            "workarea.legacy_left",
            folder=str(hot),
            files=len(strangers),
            reason="0.1 work files this journal does not know: another host's claims, left alone",
        )
