"""Numbers as people write them in file names: which text is read, what it becomes, what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faxdropd.config import FolderConfig, parse_config
from faxdropd.document import routing
from faxdropd.document.namenumbers import numbers_in_name
from faxdropd.document.routing import Rejection, Route


def decide(name: str, folder: Any, sidecar: dict[str, Any] | None) -> Route | Rejection:
    """routing.route's answer either way: the route, or the Rejection it raised."""
    try:
        return routing.route(name, folder, sidecar)
    except Rejection as exc:
        return exc


NY = "+12125550100"
DEFAULT = "+442079460000"
HOT = Path("/srv/fax/hot")


def Folder(**settings_: Any) -> FolderConfig:  # named like the model it builds
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password": "test-password"},
        "state_dir": "/srv/fax/state",
        "folders": [{"path": str(HOT), "to": DEFAULT, **settings_}],
    }
    return parse_config(data, base_dir=HOT.parent, env={"TZ": "UTC"}).folders[0]


US = Folder()


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("+1 212 555 0100 invoice.pdf", "+1 212 555 0100"),
        ("(212) 555-0100 invoice.pdf", "(212) 555-0100"),
        ("212.555.0100 invoice.pdf", "212.555.0100"),
        ("212-555-0100_invoice.pdf", "212-555-0100"),
        ("+12125550100 invoice.pdf", "+12125550100"),
        ("invoice fax=12125550100.pdf", "12125550100"),
        ("invoice fax=+1 (212) 555-0100.pdf", "+1 (212) 555-0100"),
        ("invoice fax=212.555.0100 final.pdf", "212.555.0100"),
        ("fax=(212) 555-0100_copy.pdf", "(212) 555-0100"),
    ],
)
def test_human_forms_route_to_the_number(name: str, read: str) -> None:
    assert [n.text for n in numbers_in_name(name)] == [read]
    r = decide(name, US, None)
    assert isinstance(r, Route), r
    assert (r.numbers, r.source) == ([NY], "filename")


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("fax=abc memo.pdf", "fax=abc"),
        ("invoice fax=.pdf", "fax="),
        ("invoice fax=12125550100abc.pdf", "fax=12125550100abc"),
        ("+1 212 555 01 memo.pdf", "+1 212 555 01"),
        ("(212) 555 memo.pdf", "(212) 555"),
        ("212 555 0100 2 copies.pdf", "212 555 0100 2"),
        ("12345678 order.pdf", "12345678"),
    ],
)
def test_unreadable_marker_or_token_is_rejected_quoting_it(name: str, quoted: str) -> None:
    r = decide(name, US, None)
    assert isinstance(r, Rejection), r
    assert f"file name says {quoted}, which is not a fax number" in r.reason


@pytest.mark.parametrize(
    "name",
    [
        "2024 report.pdf",
        "invoice-1043.pdf",
        "1043-invoice.pdf",
        "scan0001.pdf",
        "2024-01-15 scan.pdf",
        "2024.01.15 09.30.12 scan.pdf",
        "20240115_093012.pdf",
        "20240115T0930 scan.pdf",
        "invoice 2125550100.pdf",
        "123456 short.pdf",
    ],
)
def test_ordinary_names_route_to_the_folder(name: str) -> None:
    r = decide(name, US, None)
    assert isinstance(r, Route) and (r.numbers, r.source) == ([DEFAULT], "folder")


def test_simulator_numbers_pass_where_an_allow_pattern_names_them() -> None:
    folder = Folder(allow=["+9999999*"])
    for name in ("+99999996017 x.pdf", "+9999999 6017 x.pdf", "x fax=+9999999-6017.pdf"):
        r = decide(name, folder, None)
        assert isinstance(r, Route) and r.numbers == ["+99999996017"], (name, r)
    assert isinstance(decide("+99999996017 x.pdf", US, None), Rejection)


def test_denied_number_keeps_the_policy_reason() -> None:
    r = decide("(212) 555-0100 memo.pdf", Folder(deny=["+1212*"]), None)
    assert isinstance(r, Rejection) and "deny" in r.reason and NY in r.reason


# --- properties ----------------------------------------------------------------------------------------

REGIONS = ("US", "GB", "DE", "FR", "CH")
KINDS = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
EXAMPLES = [
    (region, n)
    for region in REGIONS
    for kind in KINDS
    if (n := phonenumbers.example_number_for_type(region, kind)) is not None
]


@st.composite
def us_numbers(draw: st.DrawFn) -> tuple[str, phonenumbers.PhoneNumber]:
    area = draw(st.sampled_from(["212", "415", "617", "312", "202", "713"]))
    exchange = draw(st.integers(200, 999))
    line = draw(st.integers(0, 9999))
    n = phonenumbers.parse(f"+1{area}{exchange}{line:04d}")
    return "US", n


def _written(n: phonenumbers.PhoneNumber, style: str) -> str:
    F = phonenumbers.PhoneNumberFormat
    base = {
        "e164": F.E164,
        "international": F.INTERNATIONAL,
        "national": F.NATIONAL,
        "dots": F.INTERNATIONAL,
        "dashes": F.INTERNATIONAL,
        "national-dots": F.NATIONAL,
    }[style]
    text = str(phonenumbers.format_number(n, base))
    if "dots" in style:
        text = text.replace(" ", ".")
    if style == "dashes":
        text = text.replace(" ", "-")
    return text


STYLES = ("e164", "international", "national", "dots", "dashes", "national-dots")


@settings(max_examples=300, deadline=None)
@given(
    picked=st.one_of(st.sampled_from(EXAMPLES), us_numbers().filter(lambda p: phonenumbers.is_valid_number(p[1]))),
    style=st.sampled_from(STYLES),
    as_marker=st.booleans(),
    rest=st.sampled_from(["invoice", "memo 3", "Q1_report"]),
)
def test_any_valid_number_in_any_common_format_routes_to_exactly_it(
    picked: tuple[str, phonenumbers.PhoneNumber], style: str, as_marker: bool, rest: str
) -> None:
    region, number = picked
    written = _written(number, style)
    name = f"{rest} fax={written}.pdf" if as_marker else f"{written} {rest}.pdf"
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    r = decide(name, Folder(region=region), None)
    assert isinstance(r, Route), (name, r)
    assert (r.numbers, r.source) == ([expected], "filename"), name


@st.composite
def garbage_names(draw: st.DrawFn) -> str:
    date = draw(st.dates(min_value=__import__("datetime").date(1900, 1, 1)))
    sep = draw(st.sampled_from(["", "-", "."]))
    stamp = date.strftime(f"%Y{sep}%m{sep}%d")
    time_ = draw(st.sampled_from(["", "_093012", " 0930", " 09.30.12", "T1745"]))
    small = draw(st.integers(0, 999_999))
    word = draw(st.sampled_from(["invoice", "scan", "report", "Order", "memo"]))
    text = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9 _\-.]{0,30}", fullmatch=True))
    return draw(
        st.sampled_from(
            [
                f"{stamp}{time_} {word}.pdf",
                f"{word}-{small}.pdf",
                f"{word}{small:04d}.pdf",
                f"{small} {word}.pdf",
                f"{word} {stamp} {small}.pdf",
                f"{text}.pdf",
            ]
        )
    )


@settings(max_examples=400, deadline=None)
@given(name=garbage_names())
def test_garbage_never_routes_to_a_number_from_the_name(name: str) -> None:
    r = decide(name, US, None)
    if isinstance(r, Route):
        assert (r.numbers, r.source) == ([DEFAULT], "folder"), name


@settings(max_examples=300, deadline=None)
@given(value=st.text(st.sampled_from("0123456789abc+-.() x"), max_size=20))
def test_a_marker_routes_to_its_own_digits_or_is_rejected(value: str) -> None:
    r = decide(f"memo fax={value}.pdf", US, None)
    assert not (isinstance(r, Route) and r.source == "folder"), value
    if isinstance(r, Route):
        digits = "".join(ch for ch in value if ch.isdigit())
        assert r.numbers[0].lstrip("+").endswith(digits.lstrip("0")[-10:]), (value, r.numbers)
