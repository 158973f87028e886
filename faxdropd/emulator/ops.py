"""The seven dfs.asmx operations as emulator handlers: decode a validated request element, call the emulator,
encode the reply with the WSDL's response element names."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from faxdropd.emulator.faxes import Condition, QueryControl, QueryForm
from faxdropd.emulator.send import SendRequest
from faxdropd.emulator.soap import NS, Element, SoapFault, response
from faxdropd.emulator.state import Emulator

Handler = Callable[[Emulator, Element], tuple[int, Element]]
_DATETIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def _text(el: Element, name: str) -> str:
    child = el.find(f"{{{NS}}}{name}")
    return "" if child is None or child.text is None else str(child.text)


def _bool(el: Element, name: str) -> bool:
    return _text(el, name).strip() in ("true", "1")


def _int(el: Element, name: str) -> int:
    return int(_text(el, name).strip())


def _binary(el: Element, name: str) -> bytes | None:
    child = el.find(f"{{{NS}}}{name}")
    return None if child is None else base64.b64decode("".join((child.text or "").split()))


def parse_datetime(text: str) -> datetime:
    """xsd:dateTime to an aware UTC datetime; no zone means UTC, and .NET's MinValue survives any offset."""
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise SoapFault(f"not an xsd:dateTime: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = match.group(8)
    tz = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    extra = timedelta(days=1) if hour == 24 else timedelta(0)  # 24:00:00 is legal xsd
    try:
        return (datetime(year, month, day, hour % 24, minute, second, micro, tzinfo=tz) + extra).astimezone(UTC)
    except (OverflowError, ValueError):
        return datetime.min.replace(tzinfo=UTC) if year < 2 else datetime.max.replace(tzinfo=UTC)


def _start_file_upload(emu: Emulator, el: Element) -> tuple[int, Element]:
    code, session = emu.start_file_upload(_text(el, "Username"), _text(el, "Password"))
    pairs: list[tuple[str, Any]] = [("StartFileUploadResult", code)]
    return code, response("StartFileUpload", pairs + ([("SessionID", session)] if session else []))


def _upload_file_chunk(emu: Emulator, el: Element) -> tuple[int, Element]:
    code = emu.upload_file_chunk(_text(el, "SessionID"), _binary(el, "Chunk"), _bool(el, "IsLast"))
    return code, response("UploadFileChunk", [("UploadFileChunkResult", code)])


def _cancel_file_upload(emu: Emulator, el: Element) -> tuple[int, Element]:
    code = emu.cancel_file_upload(_text(el, "SessionID"))
    return code, response("CancelFileUpload", [("CancelFileUploadResult", code)])


def _sendfax_ex_2(emu: Emulator, el: Element) -> tuple[int, Element]:
    def t(name: str) -> str:
        return _text(el, name)

    request = SendRequest(
        username=t("Username"), password=t("Password"), fax_numbers=t("FaxNumbers"), contacts=t("Contacts"),
        files_data=_binary(el, "FilesData"), file_types=t("FileTypes"), file_sizes=t("FileSizes"),
        postpone=parse_datetime(t("Postpone")), retries=_int(el, "RetriesToPerform"), csid=t("CSID"),
        page_header=t("PageHeader"), job_id=t("JobID"), subject=t("Subject"), reply_address=t("ReplyAddress"),
        page_size=t("PageSize"), page_orientation=t("PageOrientation"),
        high_resolution=_bool(el, "IsHighResolution"), fine_rendering=_bool(el, "IsFineRendering"),
    )  # fmt: skip
    code = emu.send_fax(request)
    return code, response("SendfaxEx_2", [("SendfaxEx_2Result", code)])


def _fax_query(emu: Emulator, el: Element) -> tuple[int, Element]:
    code, items = emu.fax_query(
        _text(el, "Username"),
        _text(el, "Password"),
        _text(el, "Verb"),
        _text(el, "VerbData"),
        _int(el, "MaxItems"),
    )
    pairs: list[tuple[str, Any]] = [("FaxQueryResult", [("FaxItemEx", i) for i in items])] if code == 0 else []
    return code, response("FaxQuery", [*pairs, ("ResultCode", code)])


_CONDITIONS = (
    "Subject",
    "FaxNumber",
    "UserID",
    "ReplyAddress",
    "TransactionID",
    "ParentTransactionID",
    "Status",
)


def _fax_query2(emu: Emulator, el: Element) -> tuple[int, Element]:
    form_el, ctl = el.find(f"{{{NS}}}QueryForm"), el.find(f"{{{NS}}}QueryControl")
    conditions = {
        name: Condition(
            _text(form_el.find(f"{{{NS}}}{name}"), "Verb"), _text(form_el.find(f"{{{NS}}}{name}"), "VerbData")
        )
        for name in _CONDITIONS
    }
    form = QueryForm(conditions, parse_datetime(_text(form_el, "DateFrom")), parse_datetime(_text(form_el, "DateTo")))
    control = QueryControl(
        only_parents=_bool(ctl, "OnlyParents"), num_of_results=_int(ctl, "NumOfResults"),
        starting_record=_int(ctl, "StartingRecord"), order_by=_text(ctl, "OrderBy"),
        ascending=_bool(ctl, "AscOrderDirection"), return_items=_bool(ctl, "ReturnItems"),
        return_stats=_bool(ctl, "ReturnStats"),
    )  # fmt: skip
    answer = emu.fax_query2(_text(el, "Username"), _text(el, "Password"), form, control)
    result: list[tuple[str, Any]] = [("ResultCode", answer.code)]
    if answer.code == 0 and control.return_items:
        result.append(("FaxItems", [("FaxItemEx2", i) for i in answer.items]))
    if answer.stats is not None:
        stats = [("StatusCount", [("Status", s), ("Count", n)]) for s, n in sorted(answer.stats.items())]
        result.append(("Stats", stats))
    result.append(("TotalTransactionsNum", answer.total))
    return answer.code, response("FaxQuery2", [("FaxQuery2Result", result)])


def _cancel_fax(emu: Emulator, el: Element) -> tuple[int, Element]:
    code = emu.cancel_fax(_text(el, "Username"), _text(el, "Password"), _int(el, "TransactionID"))
    return code, response("CancelFax", [("CancelFaxResult", code)])


HANDLERS: dict[str, Handler] = {
    "StartFileUpload": _start_file_upload,
    "UploadFileChunk": _upload_file_chunk,
    "CancelFileUpload": _cancel_file_upload,
    "SendfaxEx_2": _sendfax_ex_2,
    "FaxQuery": _fax_query,
    "FaxQuery2": _fax_query2,
    "CancelFax": _cancel_fax,
}
