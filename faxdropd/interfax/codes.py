"""The one table of InterFAX result codes and the behaviour each one gets, plus fax status meanings."""

from __future__ import annotations

from enum import Enum

from faxdropd.errors import (
    AccountError,
    InterfaxError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
    UploadSessionError,
)


class Kind(Enum):
    TRANSIENT = "transient"
    RATE_LIMITED = "rate-limited"
    SESSION = "session"
    PERMANENT = "permanent"
    ACCOUNT = "account"
    UNKNOWN = "outcome-unknown"


_CLASS: dict[Kind, type[InterfaxError]] = {
    Kind.TRANSIENT: TransientError,
    Kind.RATE_LIMITED: RateLimited,
    Kind.SESSION: UploadSessionError,
    Kind.PERMANENT: PermanentError,
    Kind.ACCOUNT: AccountError,
    Kind.UNKNOWN: OutcomeUnknown,
}

# Web-service return codes (negative results of a call), interfax.md §5.1. Account-wide codes pause all
# sending because every file would fail the same way; -1876 blocks the user for an hour.
RESULT_CODES: dict[int, tuple[Kind, str]] = {
    -111: (Kind.PERMANENT, "the number is not the designated fax number of this developer account"),
    -112: (Kind.PERMANENT, "no valid recipient fax number"),
    -114: (Kind.PERMANENT, "the postpone date is more than 30 days ahead"),
    -123: (Kind.PERMANENT, "no valid document attached (empty data)"),
    -150: (Kind.TRANSIENT, "InterFAX reported an internal system error"),
    -310: (Kind.ACCOUNT, "the user is not a primary user or not authorised for the requested user"),
    -311: (Kind.PERMANENT, "the transaction does not belong to this user"),
    -312: (Kind.PERMANENT, "the e-mail was already resent"),
    -666: (Kind.ACCOUNT, "the user is configured in another switch group"),
    -677: (Kind.ACCOUNT, "the user has no outbound fax service"),
    -710: (Kind.PERMANENT, "the query asked for neither items nor statistics"),
    -1002: (Kind.PERMANENT, "the number of file types does not match the number of document sizes"),
    -1003: (Kind.ACCOUNT, "authentication failed: wrong username or password"),
    -1004: (Kind.PERMANENT, "a file type is missing"),
    -1005: (Kind.PERMANENT, "the transaction does not exist"),
    -1007: (Kind.PERMANENT, "a document size is not a positive number, or the data is empty"),
    -1008: (Kind.PERMANENT, "the document sizes do not add up to the data sent"),
    -1009: (Kind.PERMANENT, "the fax image is no longer available"),
    -1010: (Kind.PERMANENT, "a file type carries ambiguous /AB and /PB switches"),
    -1011: (Kind.RATE_LIMITED, "too many status requests: InterFAX allows 6 a minute"),
    -1030: (Kind.PERMANENT, "invalid query verb or verb data"),
    -1059: (Kind.PERMANENT, "more documents than InterFAX allows in one fax"),
    -1061: (Kind.PERMANENT, "an upload chunk was empty"),
    -1062: (Kind.SESSION, "the upload session id is not known to InterFAX"),
    -1063: (Kind.PERMANENT, "the document is larger than InterFAX's 20 MB limit"),
    -1066: (Kind.PERMANENT, "several faxes are chained to the same original transaction"),
    -1876: (Kind.ACCOUNT, "too many failed logins: InterFAX blocked the user for an hour"),
    -2003: (Kind.ACCOUNT, "InterFAX refused requests from this IP address"),
    -2050: (Kind.PERMANENT, "invalid e-mail format"),
    -2051: (Kind.PERMANENT, "invalid e-mail image format"),
    -2052: (Kind.PERMANENT, "invalid web feedback method"),
    -2053: (Kind.PERMANENT, "invalid attachment format"),
    -2054: (Kind.PERMANENT, "invalid delete-after-usage value"),
}

# Operations whose success creates a fax: a failure after the request may have left is not a plain failure.
SENDING_OPERATIONS = frozenset({"SendfaxEx_2"})

# Codes that, returned by a sending operation, leave the creation of the fax in doubt (DESIGN §5).
AMBIGUOUS_ON_SEND = frozenset({-150})


def kind_of(code: int, operation: str) -> Kind:
    """Behaviour for a negative result code of `operation`; unknown codes are permanent, never retried blindly."""
    if operation in SENDING_OPERATIONS and code in AMBIGUOUS_ON_SEND:
        return Kind.UNKNOWN
    return RESULT_CODES.get(code, (Kind.PERMANENT, ""))[0]


def sentence(code: int) -> str:
    return RESULT_CODES.get(code, (Kind.PERMANENT, f"InterFAX returned the undocumented result code {code}"))[1]


def error_for(code: int, operation: str) -> InterfaxError:
    """The exception to raise for a negative `code` returned by `operation`."""
    return _CLASS[kind_of(code, operation)](sentence(code), code=code, operation=operation)


def error_for_kind(kind: Kind, message: str, operation: str) -> InterfaxError:
    """Transport failures (no result code) are classified by the caller, then raised through the same table."""
    return _CLASS[kind](message, code=None, operation=operation)


# Fax transmission status (FaxItem.Status), interfax.md §5.2: < 0 in progress, 0 delivered, > 0 failed.
STATUS_TEXT: dict[int, str] = {
    -1: "pre-processing",
    -11: "pre-processing",
    -2: "ready, waiting in the outbound queue",
    -3: "sending, or waiting for the next retry",
    -22: "held: the account is out of credit",
    0: "delivered: the receiving machine confirmed every page",
    1: "the call was disconnected without a page break or confirmation",
    2: "telephony error",
    12: "telephony error",
    263: "the receiving line was busy",
    3224: "communication error: the remote fax may not have answered",
    3912: "the number is unusable: no fax answer, possibly a voice line",
    3938: "the number is unusable",
    6017: "the receiving line was busy",
    205000: "cancelled after 24 hours without credit",
}

OUT_OF_CREDIT = -22


def status_sentence(status: int) -> str:
    if status in STATUS_TEXT:
        return STATUS_TEXT[status]
    if status < 0:
        return "in progress"
    return f"fax transmission failed with status {status}"


def is_final(status: int) -> bool:
    return status >= 0
