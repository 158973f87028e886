"""The journal's database, behind one owner: SQLite in state_dir or a shared PostgreSQL server.

`open_database` picks the backend; `Database` is what the rest of the package talks to. Dialect differences
(placeholders, DDL types, upserts, the database clock, how a write transaction begins) live in `dialect.py`
and the two backends; only `postgres.py` imports psycopg.
"""
