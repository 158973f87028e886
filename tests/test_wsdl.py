"""faxdropd's own WSDL must match the real InterFAX description operation by operation, element by element."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

OURS = Path(__file__).parents[1] / "faxdropd" / "data" / "dfs.wsdl"
REAL = Path(__file__).parents[2] / "shared" / "interfax-dfs.wsdl"
NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "s": "http://www.w3.org/2001/XMLSchema",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "soap12": "http://schemas.xmlsoap.org/wsdl/soap12/",
}
TNS = "http://www.interfax.cc"


def _tree(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def _schema(root: etree._Element) -> etree._Element:
    return root.xpath(f"wsdl:types/s:schema[@targetNamespace='{TNS}']", namespaces=NS)[0]


def _shape(schema: etree._Element, element_name: str) -> list[tuple[str, str, str, str, object]]:
    """The element's sequence, with every referenced complex type expanded recursively."""
    element = schema.xpath(f"s:element[@name='{element_name}']", namespaces=NS)[0]
    return _sequence(schema, element.find("s:complexType", NS), set())


def _sequence(schema: etree._Element, ctype: etree._Element, seen: set[str]) -> list[tuple[str, str, str, str, object]]:
    out: list[tuple[str, str, str, str, object]] = []
    for child in ctype.xpath("s:sequence/s:element", namespaces=NS):
        typ = child.get("type")
        nested: object = None
        if typ and typ.startswith("tns:") and typ not in seen:
            name = typ[4:]
            complex_ = schema.xpath(f"s:complexType[@name='{name}']", namespaces=NS)
            simple = schema.xpath(f"s:simpleType[@name='{name}']", namespaces=NS)
            if complex_:
                nested = _sequence(schema, complex_[0], seen | {typ})
            elif simple:
                nested = tuple(simple[0].xpath("s:restriction/s:enumeration/@value", namespaces=NS))
        out.append((child.get("name"), typ, child.get("minOccurs"), child.get("maxOccurs"), nested))
    return out


def _operations(root: etree._Element) -> list[str]:
    return list(root.xpath("wsdl:portType[@name='InterFaxSoap']/wsdl:operation/@name", namespaces=NS))


def _action(root: etree._Element, binding: str, prefix: str, op: str) -> str:
    found = root.xpath(
        f"wsdl:binding[@name='{binding}']/wsdl:operation[@name='{op}']/{prefix}:operation/@soapAction",
        namespaces=NS,
    )
    return str(found[0])


def test_our_wsdl_has_the_operations_faxdropd_uses() -> None:
    ops = set(_operations(_tree(OURS)))
    assert {
        "StartFileUpload",
        "UploadFileChunk",
        "CancelFileUpload",
        "SendfaxEx_2",
        "FaxQuery",
        "FaxQuery2",
        "CancelFax",
    } <= ops
    assert _tree(OURS).get("targetNamespace") == TNS


@pytest.mark.skipif(not REAL.exists(), reason="the real InterFAX WSDL is not beside this checkout")
@pytest.mark.parametrize("op", _operations(_tree(OURS)))
def test_operation_matches_the_real_service(op: str) -> None:
    ours, real = _tree(OURS), _tree(REAL)
    assert op in _operations(real)
    for suffix in ("", "Response"):
        assert _shape(_schema(ours), op + suffix) == _shape(_schema(real), op + suffix), f"{op}{suffix}"
    for binding, prefix in (("InterFaxSoap", "soap"), ("InterFaxSoap12", "soap12")):
        assert _action(ours, binding, prefix, op) == _action(real, binding, prefix, op) == f"{TNS}/{op}"
    for direction in ("SoapIn", "SoapOut"):
        query = f"wsdl:message[@name='{op}{direction}']/wsdl:part/@element"
        assert ours.xpath(query, namespaces=NS) == real.xpath(query, namespaces=NS)


def test_comparison_detects_a_difference(tmp_path: Path) -> None:
    """The comparison must be able to fail: swap two elements and it has to notice."""
    broken = tmp_path / "broken.wsdl"
    text = OURS.read_text().replace(
        '<s:element minOccurs="1" maxOccurs="1" name="IsHighResolution" type="s:boolean" />\n'
        '            <s:element minOccurs="1" maxOccurs="1" name="IsFineRendering" type="s:boolean" />',
        '<s:element minOccurs="1" maxOccurs="1" name="IsFineRendering" type="s:boolean" />\n'
        '            <s:element minOccurs="1" maxOccurs="1" name="IsHighResolution" type="s:boolean" />',
    )
    assert text != OURS.read_text()
    broken.write_text(text)
    assert _shape(_schema(_tree(broken)), "SendfaxEx_2") != _shape(_schema(_tree(OURS)), "SendfaxEx_2")


def test_wsdl_loads_with_no_network() -> None:
    import socket

    from faxdropd.interfax.client import ClientFactory, ClientSettings

    real_connect = socket.socket.connect

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"network access while loading the WSDL: {address}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        factory = ClientFactory(ClientSettings(url="https://ws.interfax.net/dfs.asmx", username="u", password="p"))
        factory.client()
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
