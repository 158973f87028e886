"""Notifications: the sender that delivers the journal's outbox by e-mail and webhook."""
