"""The `retention:` block: how long filed documents and journal rows are kept, and how sent/ is laid out.

Top level: `retention: {sent: 90d, failed: 365d, journal: 400d, archive: delete}`. `defaults:` and each folder
may override `sent`, `failed` and `archive` (the journal is one for all folders); a key left out inherits.
A duration of 0 keeps forever.

`archive`:
- `delete` (the default): sent/ and failed/ stay flat, as before; expired documents are deleted with their
  receipts. Flat is the default so that existing shares, scripts and `faxdropd retry` see the layout they know.
- `dated`: documents and receipts are filed into month folders (`sent/2026-12/`) as they are filed, so no
  folder ever holds more than a month; expired ones are deleted the same way and empty months removed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator

from faxdropd.config.fields import Duration, StrictModel, choice

__all__ = ["Archive", "FolderRetention", "RetentionConfig"]

DAY = 86400.0
Archive = Annotated[Literal["dated", "delete"], BeforeValidator(choice("dated", "delete"))]


class FolderRetention(StrictModel):
    """A folder's (or `defaults:`') overrides; None inherits the top-level `retention:`."""

    sent: Duration | None = None
    failed: Duration | None = None
    archive: Archive | None = None


class RetentionConfig(StrictModel):
    sent: Duration = 90 * DAY
    failed: Duration = 365 * DAY
    journal: Duration = 400 * DAY
    archive: Archive = "delete"

    def for_folder(self, own: FolderRetention) -> RetentionConfig:
        """This block with a folder's overrides applied (what retention and filing use for that folder)."""
        return self.model_copy(update={k: v for k, v in own.model_dump().items() if v is not None})
