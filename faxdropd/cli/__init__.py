"""The command line: one module per command family; exit codes in `exits.py`. The top room: it may use every other."""
