"""How a delivery attempt failed: worth retrying, or never going to work."""

from __future__ import annotations


class DeliveryFailed(Exception):
    """A delivery attempt that did not succeed; `permanent` ones are given up at once, the rest retried."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after  # what the other side asked for (HTTP Retry-After), in seconds
