"""The journal's schema, version by version: the daemon applies those not yet applied when it opens it.

Each step is written once, in the SQLite dialect (store/dialect.py rewrites the types for PostgreSQL), and is
never edited once released: a change is a new step. Step 1 is the schema as it stood before versioning, all
`IF NOT EXISTS`, so a journal created by an earlier release takes it as a no-op.
"""

from __future__ import annotations

from faxdropd.jobs.controls import CONTROL_SCHEMA
from faxdropd.jobs.schema import SCHEMA

MIGRATIONS: list[str] = [
    SCHEMA + CONTROL_SCHEMA,
]
