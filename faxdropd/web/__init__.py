"""The front-desk page: a small server-rendered site served inside the daemon, reading the journal read-only."""
