"""Exit codes of every `faxdropd` command (DESIGN §2), in one place so that systemd and scripts can rely on them."""

EXIT_OK = 0
EXIT_FAIL = 1  # a runtime failure
EXIT_USAGE = 2  # argparse's own code for a bad command line
EXIT_UNAVAILABLE = 75  # EX_TEMPFAIL: InterFAX unreachable (send)
EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus=78 stops a restart loop on a bad config
