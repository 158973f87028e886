"""Watching hot folders: events and listings, which files are wanted, when a file has settled, mounts, health."""
