"""Exit codes of every `faxdropd` command (DESIGN §2), in one place so that systemd and scripts can rely on them."""

EXIT_OK = 0
EXIT_FAIL = 1  # a runtime failure
EXIT_DEGRADED = 1  # status: paused, a folder down, or failures in the last hour
EXIT_USAGE = 2  # argparse's own code for a bad command line
EXIT_UNKNOWN = 3  # status: cannot tell (no journal), as monitoring plugins use 3
EXIT_UNAVAILABLE = 75  # EX_TEMPFAIL: InterFAX unreachable (send)
EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus=78 stops a restart loop on a bad config

# For --help and the man page: one line per code.
EXIT_CODES_HELP = """exit codes:
  0   success (status: all is well)
  1   failure (status: degraded: sending paused, a folder down, or failures in the last hour)
  2   bad command line
  3   status: cannot tell (no journal yet)
  74  the journal could not be written (the daemon exits; systemd restarts it)
  75  InterFAX unreachable (send)
  78  bad configuration (systemd does not restart the daemon)"""
