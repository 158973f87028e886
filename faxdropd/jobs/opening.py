"""The journal a config names: SQLite in state_dir, or the PostgreSQL server of `journal:`.

Every command and the daemon open it through here, so none of them decides the backend on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from faxdropd.jobs.journal import Journal
from faxdropd.jobs.schema import journal_path
from faxdropd.store.database import Target

if TYPE_CHECKING:
    from faxdropd.config import Config
    from faxdropd.config.place import JournalPlace

    # The whole config, or the journal's place alone (`show`, which does not build the config's models).
    Place = Config | JournalPlace


def target_of(cfg: Place) -> Target:
    return Target(journal_path(cfg.state_dir), cfg.journal, cfg.journal_password)


def open_journal(cfg: Place, *, read_only: bool = False, exit_on_failure: bool = True) -> Journal:
    # The database password, from its file or written in the URI, is masked in every log line from now on.
    for secret in (cfg.journal_password, urlsplit(cfg.journal).password if cfg.journal else None):
        if secret:
            # Imported only with a secret to register: a SQLite journal's console commands skip the log set-up.
            from faxdropd import log

            log.register_secret(secret)
    return Journal(
        cfg.state_dir,
        read_only=read_only,
        exit_on_failure=exit_on_failure,
        url=cfg.journal,
        password=cfg.journal_password,
    )


def journal_exists(cfg: Place) -> bool:
    """Whether there is a journal to read (a server is assumed to have one: its daemon creates the schema)."""
    return cfg.journal is not None or journal_path(cfg.state_dir).exists()


def where(cfg: Place) -> str:
    """The journal's place for a message: the file, or the server without credentials."""
    if cfg.journal is None:
        return str(journal_path(cfg.state_dir))
    parts = urlsplit(cfg.journal)
    return f"postgresql://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"
