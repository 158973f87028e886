"""Real services for the tests: shares (sshfs, SMB), PostgreSQL, SMTP, a webhook receiver, a headless browser."""
