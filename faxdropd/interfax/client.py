"""The InterFAX client: zeep's client and the typed operations (transport.py carries its messages).

The packaged WSDL is parsed once per process; every worker thread gets its own zeep Client over its own
HTTP connection (transport.py). Every failure leaves this module as one of the classes of
`errors.py`, chosen through the table in `codes.py`, so callers never see zeep or HTTP exceptions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
import zeep
import zeep.exceptions
import zeep.wsdl

from faxdropd.data import WSDL_PATH
from faxdropd.errors import InterfaxError
from faxdropd.interfax import codes
from faxdropd.interfax.codes import Kind
from faxdropd.interfax.transport import ExchangeFailed, HttpTransport, NotConnected, NotSent

NS = "http://www.interfax.cc"
BINDINGS = {"1.1": f"{{{NS}}}InterFaxSoap", "1.2": f"{{{NS}}}InterFaxSoap12"}
MAX_QUERY_ITEMS = 100

log = structlog.get_logger("faxdropd.interfax.client")

CallObserver = Callable[[str, str, float], None]


@dataclass(frozen=True)
class ClientSettings:
    url: str
    username: str
    password: str = field(repr=False)
    timeout: float = 60.0
    connect_timeout: float = 10.0
    verify: bool | str = True
    soap_version: str = "1.1"


@dataclass(frozen=True)
class FaxItem:
    """One transaction as InterFAX reports it (FaxItemEx / FaxItemEx2)."""

    transaction_id: int
    parent_id: int
    status: int
    subject: str
    job_id: str
    destination: str
    pages_sent: int
    pages_submitted: int
    duration: int
    remote_csid: str
    units: Decimal
    cost_per_unit: Decimal
    trials: int
    submit_time: datetime | None
    completion_time: datetime | None

    @property
    def cost(self) -> Decimal:
        return self.units * self.cost_per_unit


def _item(raw: Any) -> FaxItem:
    return FaxItem(
        transaction_id=int(raw.TransactionID),
        parent_id=int(raw.ParentTransactionID),
        status=int(raw.Status),
        subject=raw.Subject or "",
        job_id=raw.JobID or "",
        destination=raw.DestinationFax or "",
        pages_sent=int(raw.PagesSent),
        pages_submitted=int(raw.PagesSubmitted),
        duration=int(raw.Duration),
        remote_csid=raw.RemoteCSID or "",
        units=Decimal(raw.Units),
        cost_per_unit=Decimal(raw.CostPerUnit),
        trials=int(raw.TrialsPerformed),
        submit_time=raw.SubmitTime,
        completion_time=raw.CompletionTime,
    )


def classify_transport(exc: Exception, operation: str) -> InterfaxError:
    """Map a zeep/HTTP failure to the error classes; a send whose request may have left is unknown."""
    sending = operation in codes.SENDING_OPERATIONS
    if isinstance(exc, NotConnected) and exc.tls:
        return codes.error_for_kind(Kind.ACCOUNT, f"TLS verification failed: {exc.reason}", operation)
    if isinstance(exc, zeep.exceptions.ValidationError):
        return codes.error_for_kind(Kind.PERMANENT, f"request refused by the WSDL: {_short(exc)}", operation)
    if isinstance(exc, zeep.exceptions.Fault) and (exc.code or "").lower().endswith(("client", "sender")):
        # The server parsed our request and rejected it: nothing was created.
        return codes.error_for_kind(Kind.PERMANENT, f"InterFAX refused the request: {_short(exc)}", operation)
    if isinstance(exc, NotConnected):
        return codes.error_for_kind(Kind.TRANSIENT, f"could not connect: {exc.reason}", operation)
    if isinstance(exc, NotSent):
        return codes.error_for_kind(Kind.TRANSIENT, f"request not sent: {exc}", operation)
    if sending:
        return codes.error_for_kind(Kind.UNKNOWN, f"no usable reply after sending: {_short(exc)}", operation)
    if operation == "UploadFileChunk":
        return codes.error_for_kind(Kind.SESSION, f"chunk outcome unknown: {_short(exc)}", operation)
    return codes.error_for_kind(Kind.TRANSIENT, f"call failed: {_short(exc)}", operation)


def _short(exc: Exception) -> str:
    # zeep embeds whole response bodies in some messages; keep logs and receipts readable.
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."


class ClientFactory:
    """Parses the WSDL once and hands each thread its own client bound to the configured address."""

    def __init__(self, settings: ClientSettings, *, observer: CallObserver | None = None) -> None:
        self.settings = settings
        self._observer = observer
        self._zsettings = zeep.Settings(strict=True, forbid_external=True, forbid_dtd=True)
        loader: Any = zeep.Transport()  # zeep annotates this parameter as a class; it takes an instance
        self._document = zeep.wsdl.Document(str(WSDL_PATH), loader, settings=self._zsettings)
        self._local = threading.local()
        self._transports: list[HttpTransport] = []
        self._lock = threading.Lock()

    def client(self) -> InterfaxClient:
        existing: InterfaxClient | None = getattr(self._local, "client", None)
        if existing is None:
            transport = HttpTransport(
                self.settings.url,
                verify=self.settings.verify,
                connect_timeout=self.settings.connect_timeout,
                timeout=self.settings.timeout,
            )
            zclient = zeep.Client(self._document, transport=transport, settings=self._zsettings)
            service = zclient.create_service(BINDINGS[self.settings.soap_version], self.settings.url)
            existing = InterfaxClient(service, transport, self.settings, self._observer)
            self._local.client = existing
            with self._lock:
                self._transports.append(transport)
        return existing

    def close(self) -> None:
        with self._lock:
            for transport in self._transports:
                transport.close()
            self._transports.clear()
        self._local = threading.local()


class InterfaxClient:
    """Typed wrappers over the operations faxdropd uses; results are checked, errors classified."""

    def __init__(
        self, service: Any, transport: HttpTransport, settings: ClientSettings, observer: CallObserver | None
    ) -> None:
        self._service = service
        self._transport = transport
        self._settings = settings
        self._observer = observer

    @contextmanager
    def _call(self, operation: str) -> Iterator[None]:
        started = time.monotonic()
        result = "ok"
        try:
            yield
        except InterfaxError as exc:
            result = str(exc.code) if exc.code is not None else type(exc).__name__
            raise
        except (zeep.exceptions.Error, NotConnected, NotSent, ExchangeFailed, ValueError) as exc:
            error = classify_transport(exc, operation)
            result = type(error).__name__
            raise error from None
        finally:
            elapsed = time.monotonic() - started
            log.debug("soap.call", op=operation, result=result, seconds=round(elapsed, 4))
            if self._observer is not None:
                self._observer(operation, result, elapsed)

    def _auth(self) -> dict[str, str]:
        return {"Username": self._settings.username, "Password": self._settings.password}

    def start_upload(self) -> str:
        with self._call("StartFileUpload"):
            reply = self._service.StartFileUpload(**self._auth())
            if int(reply.StartFileUploadResult) < 0:
                raise codes.error_for(int(reply.StartFileUploadResult), "StartFileUpload")
            if not reply.SessionID:
                raise codes.error_for_kind(Kind.TRANSIENT, "no session id in the reply", "StartFileUpload")
            return str(reply.SessionID)

    def upload_chunk(self, session_id: str, chunk: bytes, is_last: bool) -> int:
        if not isinstance(chunk, bytes):  # zeep sends a str verbatim as if it were base64 already
            raise TypeError("chunk must be bytes")
        with self._call("UploadFileChunk"), self._transport.beside(chunk) as stand_in:
            total = int(self._service.UploadFileChunk(SessionID=session_id, Chunk=stand_in, IsLast=is_last))
            if total < 0:
                raise codes.error_for(total, "UploadFileChunk")
            return total

    def cancel_upload(self, session_id: str) -> None:
        """Best effort: a session we abandon is useless to InterFAX too, so a failure here only gets logged."""
        try:
            with self._call("CancelFileUpload"):
                code = int(self._service.CancelFileUpload(SessionID=session_id))
                if code < 0:
                    raise codes.error_for(code, "CancelFileUpload")
        except InterfaxError as exc:
            log.info("upload.cancel_failed", session=session_id, error=str(exc))

    def send_fax(self, fields: Mapping[str, object], files_data: bytes, file_types: list[str], file_sizes: str) -> int:
        """SendfaxEx_2; `fields` holds every option field of the request (see faxfields.sendfax_fields)."""
        with self._call("SendfaxEx_2"), self._transport.beside(files_data) as stand_in:
            result = int(
                self._service.SendfaxEx_2(
                    **self._auth(),
                    FilesData=stand_in,
                    FileTypes=";".join(file_types),
                    FileSizes=file_sizes,
                    **fields,
                )
            )
            if result < 0:
                raise codes.error_for(result, "SendfaxEx_2")
            return result

    def query_ids(self, ids: list[int]) -> list[FaxItem]:
        """FaxQuery IN: status of up to 100 transactions in one rate-limited call."""
        if not ids:
            return []
        if len(ids) > MAX_QUERY_ITEMS:
            raise ValueError(f"at most {MAX_QUERY_ITEMS} ids per query")
        with self._call("FaxQuery"):
            reply = self._service.FaxQuery(
                **self._auth(),
                Verb="IN",
                VerbData=",".join(str(i) for i in ids),
                MaxItems=len(ids),
                ResultCode=0,
            )
            if int(reply.ResultCode) < 0:
                raise codes.error_for(int(reply.ResultCode), "FaxQuery")
            items = reply.FaxQueryResult.FaxItemEx if reply.FaxQueryResult is not None else []
            return [_item(i) for i in items or []]

    def query_reference(
        self, subject: str, since: datetime, until: datetime | None = None, *, like: bool = False
    ) -> list[FaxItem]:
        """FaxQuery2 by Subject (Equals, or Like with % wildcards) within a submission-time window."""
        dont_care = {"Verb": "Equals", "VerbData": ""}
        form = {
            "Subject": {"Verb": "Like" if like else "Equals", "VerbData": subject},
            "FaxNumber": dont_care,
            "DateFrom": since.astimezone(UTC),
            "DateTo": (until or datetime.now(UTC)).astimezone(UTC),
            "UserID": dont_care,
            "ReplyAddress": dont_care,
            "TransactionID": dont_care,
            "ParentTransactionID": dont_care,
            "Status": dont_care,
            "ShowHiddenTransactions": True,
        }
        control = {
            "OnlyParents": False,
            "NumOfResults": MAX_QUERY_ITEMS,
            "StartingRecord": 0,
            "OrderBy": "TransactionID",
            "AscOrderDirection": True,
            "ReturnItems": True,
            "ReturnStats": False,
        }
        with self._call("FaxQuery2"):
            reply = self._service.FaxQuery2(**self._auth(), QueryForm=form, QueryControl=control)
            if int(reply.ResultCode) < 0:
                raise codes.error_for(int(reply.ResultCode), "FaxQuery2")
            items = reply.FaxItems.FaxItemEx2 if reply.FaxItems is not None else []
            return [_item(i) for i in items or []]

    def cancel_fax(self, transaction_id: int) -> None:
        with self._call("CancelFax"):
            code = int(self._service.CancelFax(**self._auth(), TransactionID=transaction_id))
            if code < 0:
                raise codes.error_for(code, "CancelFax")
