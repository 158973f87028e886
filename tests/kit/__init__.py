"""Reusable real services (PostgreSQL, SMTP, webhook receiver, headless browser) for pytest."""
