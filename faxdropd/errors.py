"""The exception hierarchy: one base, and one class per way the daemon must react."""

from __future__ import annotations

import errno


class FaxdropError(Exception):
    """Base of every domain error; `except FaxdropError` catches them all."""


class ConfigError(FaxdropError):
    """The configuration is unusable; `path` names the key (`folders[2].fax.page_size`)."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


Problem = tuple[str, str]  # (key path, sentence)


class ConfigProblems(ConfigError):
    """A `ConfigError` for one or more problems: `.path` is the first key, `.problems` all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first_path, first_message = problems[0]
        rest = [f"{path}: {message}" if path else message for path, message in problems[1:]]
        super().__init__("\n".join([first_message, *rest]), first_path)


class JournalLocked(FaxdropError):
    """Another process owns the state directory."""


class JobTaken(FaxdropError):
    """Another instance took the job over (its lease here expired): this one must not touch it again."""


class Fenced(FaxdropError):
    """This instance could not renew its leases for two thirds of a lease: it starts no submission."""


class JournalFailure(FaxdropError):
    """A journal write did not commit. Raised only when the Journal was built with exit_on_failure=False."""


class Rejected(FaxdropError):
    """The document must not be sent; `reason` is the sentence written into its receipt.

    Pre-flight raises it and routing's Rejection is one, so the pipeline files every refusal in one place.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InterfaxError(FaxdropError):
    """A call to InterFAX did not succeed. `code` is InterFAX's result code, or None for transport failures."""

    def __init__(self, sentence: str, *, code: int | None = None, operation: str = "") -> None:
        self.code = code
        self.sentence = sentence
        self.operation = operation
        super().__init__(f"{operation}: {sentence}" + (f" ({code})" if code is not None else ""))


class TransientError(InterfaxError):
    """Nothing happened on InterFAX's side that matters; retry the same work later with backoff."""


class RateLimited(TransientError):
    """-1011: too many status queries; back off before the next one."""


class UploadSessionError(TransientError):
    """The upload session is unusable (-1062, wrong running total): cancel it and upload afresh."""


class PermanentError(InterfaxError):
    """Retrying the same request cannot succeed: the job fails."""


class AccountError(InterfaxError):
    """The account cannot send at all (authentication, blocked, no outbound service): pause everything."""


class OutcomeUnknown(InterfaxError):
    """The send request may have reached InterFAX: never resend blindly, reconcile by reference first."""


# errno values that mean the storage under a file failed, not the file: what NFS (EIO, ESTALE, ETIMEDOUT on a
# soft mount), CIFS (EHOSTDOWN, EREMOTEIO) and FUSE (ENOTCONN once the daemon died, EIO while it reconnects)
# return for a dead server, and a dying disk's EIO. Whoever turns a read error into a verdict on a document
# must let these through as OSError, so the job waits for the share instead of being rejected into failed/.
STORAGE_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.ENOTCONN,
        errno.ECONNABORTED,  # sshfs/FUSE when the transport under a mount dies mid-call
        errno.ECONNRESET,
        errno.ESTALE,
        errno.ETIMEDOUT,
        errno.EHOSTDOWN,
        errno.EREMOTEIO,
        errno.ENOMEDIUM,
    }
)


def storage_failure(exc: BaseException) -> bool:
    """True for an OSError that says the storage (not the document) is unavailable: see STORAGE_ERRNOS."""
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS
