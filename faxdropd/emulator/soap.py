"""SOAP framing for the InterFAX emulator: envelope checks, XSD validation against the shipped WSDL, and
response/fault documents with the WSDL's exact element names."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from faxdropd.emulator.faults import OPERATIONS

NS = "http://www.interfax.cc"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
_XSD = "http://www.w3.org/2001/XMLSchema"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
# The package's copy, the same file the client loads (faxdropd/data/, not this subpackage's directory).
WSDL_PATH = Path(__file__).resolve().parent.parent / "data" / "dfs.wsdl"
CONTENT_TYPE = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
# lxml validators keep their error log on the instance; one validation at a time keeps messages per request.
_schema_lock = threading.Lock()

Element = Any  # lxml ships no type information


class UnsupportedMedia(Exception):
    """Neither SOAP 1.1 nor 1.2 content type: ASMX answers 415 without an envelope."""


class SoapFault(Exception):
    """A request InterFAX would not process; `sender` = the client's fault (soap:Client / env:Sender)."""

    def __init__(self, message: str, *, sender: bool = True, version_mismatch: bool = False, op: str = "?"):
        super().__init__(message)
        self.sender, self.version_mismatch, self.op = sender, version_mismatch, op


@dataclass(frozen=True)
class Call:
    version: str
    op: str
    element: Element


@cache
def wsdl_bytes() -> bytes:
    return WSDL_PATH.read_bytes()


@cache
def _schema() -> Any:
    node = etree.fromstring(wsdl_bytes(), PARSER).find(f"{{{_WSDL}}}types/{{{_XSD}}}schema")
    # Re-parse the serialised subtree: it then carries the tns/s declarations that type="tns:…" values need.
    return etree.XMLSchema(etree.fromstring(etree.tostring(node), PARSER))


def _content_type(value: str) -> tuple[str, dict[str, str]]:
    main, *rest = value.split(";")
    params = {}
    for item in rest:
        key, _, val = item.partition("=")
        params[key.strip().lower()] = val.strip().strip('"')
    return main.strip().lower(), params


def read_call(body: bytes, content_type: str, soap_action: str | None) -> Call:
    """Decodes and validates one request; raises SoapFault for anything a strict ASMX would refuse."""
    media, params = _content_type(content_type)
    if media == "text/xml":
        version, env_ns, action = "1.1", SOAP11, soap_action
    elif media == "application/soap+xml":
        version, env_ns, action = "1.2", SOAP12, params.get("action")
    else:
        raise UnsupportedMedia(media)
    try:
        root = etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"malformed XML: {exc}") from exc
    if root.tag in (f"{{{SOAP11}}}Envelope", f"{{{SOAP12}}}Envelope") and root.tag != f"{{{env_ns}}}Envelope":
        raise SoapFault(f"envelope namespace does not match SOAP {version} framing", version_mismatch=True)
    if root.tag != f"{{{env_ns}}}Envelope":
        raise SoapFault(f"root element is {root.tag}, not a SOAP {version} Envelope")
    body_el = root.find(f"{{{env_ns}}}Body")
    children = [c for c in (body_el if body_el is not None else []) if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFault("the SOAP Body must contain exactly one operation element")
    op_el = children[0]
    qname = etree.QName(op_el)
    if qname.namespace != NS or qname.localname not in OPERATIONS:
        raise SoapFault(f"unknown operation {op_el.tag}")
    op = qname.localname
    expected = f"{NS}/{op}"
    if version == "1.1" and action is None:
        raise SoapFault("missing SOAPAction header", op=op)
    if action is not None and action.strip().strip('"') != expected:
        raise SoapFault(f"Server did not recognize the value of HTTP Header SOAPAction: {action}", op=op)
    standalone = etree.fromstring(etree.tostring(op_el), PARSER)
    with _schema_lock:
        schema = _schema()
        if not schema.validate(standalone):
            raise SoapFault(f"request does not match the WSDL schema: {schema.error_log.last_error}", op=op)
    return Call(version, op, standalone)


# --- encoding ---
def _lexical(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:  # .NET MinValue, "unset"
            return "0001-01-01T00:00:00"
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _fill(parent: Element, pairs: Iterable[tuple[str, Any]]) -> Element:
    for name, value in pairs:
        child = etree.SubElement(parent, f"{{{NS}}}{name}")
        if isinstance(value, list):
            _fill(child, value)
        else:
            child.text = _lexical(value)
    return parent


def response(op: str, pairs: Iterable[tuple[str, Any]]) -> Element:
    return _fill(etree.Element(f"{{{NS}}}{op}Response", nsmap={None: NS}), pairs)


def error_response(op: str, code: int) -> Element:
    """The reply InterFAX gives when an operation fails with `code` (used by the "error" fault)."""
    if op == "FaxQuery":
        return response(op, [("ResultCode", code)])
    if op == "FaxQuery2":
        return response(op, [("FaxQuery2Result", [("ResultCode", code), ("TotalTransactionsNum", 0)])])
    return response(op, [(f"{op}Result", code)])


def envelope(version: str, payload: Element) -> bytes:
    ns = SOAP11 if version == "1.1" else SOAP12
    env = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    etree.SubElement(env, f"{{{ns}}}Body").append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def fault_document(version: str, message: str, *, sender: bool, version_mismatch: bool = False) -> bytes:
    """SOAP 1.1 faultcode/faultstring as unqualified children (what zeep reads); SOAP 1.2 Code/Reason."""
    if version == "1.1":
        env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soap": SOAP11})
        fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP11}}}Body"), f"{{{SOAP11}}}Fault")
        code = "VersionMismatch" if version_mismatch else "Client" if sender else "Server"
        etree.SubElement(fault, "faultcode").text = f"soap:{code}"
        etree.SubElement(fault, "faultstring").text = message
        etree.SubElement(fault, "detail")
    else:
        env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
        fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP12}}}Body"), f"{{{SOAP12}}}Fault")
        value = "VersionMismatch" if version_mismatch else "Sender" if sender else "Receiver"
        code_el = etree.SubElement(fault, f"{{{SOAP12}}}Code")
        etree.SubElement(code_el, f"{{{SOAP12}}}Value").text = f"soap:{value}"
        reason = etree.SubElement(etree.SubElement(fault, f"{{{SOAP12}}}Reason"), f"{{{SOAP12}}}Text")
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason.text = message
        etree.SubElement(fault, f"{{{SOAP12}}}Detail")
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def validate_response(document: bytes) -> bool:
    """For tests: does a reply envelope's payload satisfy the WSDL schema, as a strict client would check?"""
    root = etree.fromstring(document, PARSER)
    payload = next(c for c in root[0] if isinstance(c.tag, str))
    with _schema_lock:
        return bool(_schema().validate(etree.fromstring(etree.tostring(payload), PARSER)))
