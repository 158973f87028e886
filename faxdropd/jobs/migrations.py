"""The journal's schema, version by version: the daemon applies those not yet applied when it opens it.

Each step is written once, in the SQLite dialect (store/dialect.py rewrites the types for PostgreSQL), and is
never edited once released: a change is a new step. Step 1 is the schema as it stood before versioning, all
`IF NOT EXISTS`, so a journal created by an earlier release takes it as a no-op.
"""

from __future__ import annotations

from faxdropd.jobs.controls import CONTROL_SCHEMA
from faxdropd.jobs.outbox import OUTBOX_SCHEMA
from faxdropd.jobs.schema import SCHEMA

# Step 2: several instances on one shared journal (jobs/leases.py). A job is owned by an instance through a
# lease on the database's clock; `instances` is who is there and when it last renewed; `budgets` holds the
# query budget shared by every instance of one InterFAX account (jobs/budgets.py).
LEASES = """
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until REAL;
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, state);
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    renewed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS budgets (
    name TEXT PRIMARY KEY,
    stamps TEXT NOT NULL DEFAULT '[]',
    blocked_until REAL NOT NULL DEFAULT 0
);
"""

# Step 3: the notification outbox (jobs/outbox.py; created unversioned by the release that brought it, hence
# IF NOT EXISTS), with the instance that sends each row on a shared journal.
OUTBOX = OUTBOX_SCHEMA + "ALTER TABLE outbox ADD COLUMN owner TEXT;"

# Step 4: `jobs_state` indexed the state alone, which `jobs_state_age` (state, updated_at) already leads with:
# every query by state uses the pair, while each state change paid one more index update and one more WAL page
# (six per fax).
ONE_STATE_INDEX = "DROP INDEX IF EXISTS jobs_state;"

# Step 5: `jobs_owner` held every job, and a single host's jobs have no owner (NULL), so each state change moved
# an entry nobody looks up (one more WAL page per change). Jobs are only ever looked up by an owner they have
# (`owner = ?`, `owner IS NOT NULL`), so the index keeps the owned ones: the same on a shared journal.
OWNED_ONLY = """
DROP INDEX IF EXISTS jobs_owner;
CREATE INDEX IF NOT EXISTS jobs_owned ON jobs(owner, state) WHERE owner IS NOT NULL;
"""

MIGRATIONS: list[str] = [
    SCHEMA + CONTROL_SCHEMA,
    LEASES,
    OUTBOX,
    ONE_STATE_INDEX,
    OWNED_ONLY,
]
