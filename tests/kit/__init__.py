"""Test kit: real helpers (network shares) that tests start and tear down themselves."""
