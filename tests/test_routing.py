"""routing (sources, precedence, sidecars), faxfields (SendfaxEx_2 mapping, Subject) and policy decisions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxdropd.config import FolderConfig, parse_config
from faxdropd.config.model import FaxOptions as FaxOptionsModel
from faxdropd.config.model import SendWindow as SendWindowModel
from faxdropd.config.window import next_window_opening
from faxdropd.document import routing
from faxdropd.document.namenumbers import numbers_in_name
from faxdropd.document.routing import Rejection, Route
from faxdropd.files import names
from faxdropd.interfax import faxfields
from faxdropd.jobs import admission as policy

# --- real config objects, built the way the daemon builds them: faxdropd.config.load.parse_config -----------

BASE = Path("/srv/fax")


def Folder(path: Path, **settings: Any) -> FolderConfig:  # named like the model it builds
    """One hot folder as parse_config produces it (defaults merged, numbers and globs validated)."""
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password": "test-password"},
        "state_dir": str(path.parent / "state"),
        "folders": [{"path": str(path), **settings}],
    }
    return parse_config(data, base_dir=path.parent, env={"TZ": "UTC"}).folders[0]


def FaxOptions(**fax: Any) -> FaxOptionsModel:
    return Folder(BASE, fax=fax).fax


def SendWindow(text: str | None = None, **parts: Any) -> SendWindowModel:
    """From the config's text form ("Mon-Fri 08:00-18:00 Europe/London") or its parts (days, start, end, tz)."""
    window = FaxOptions(send_window=text if text is not None else parts).send_window
    assert window is not None
    return window


NY = "+12125550100"
NY2 = "+12125550199"
LDN = "+442079460000"
NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def hot(tmp_path: Path) -> Path:
    (tmp_path / "hot").mkdir()
    return tmp_path / "hot"


def ok(result: Route) -> Route:
    assert isinstance(result, Route), result
    return result


def refused(decide: Callable[[], object]) -> Rejection:
    with pytest.raises(Rejection) as info:
        decide()
    return info.value


# --- sources and precedence ---------------------------------------------------------------------------


def test_sidecar_beats_filename_beats_folder(hot: Path) -> None:
    folder = Folder(hot, to=[LDN])
    r = ok(routing.route(f"{NY2} x.pdf", folder, {"to": NY}))
    assert (r.numbers, r.source) == ([NY], "sidecar")
    r = ok(routing.route(f"{NY2} x.pdf", folder, None))
    assert (r.numbers, r.source) == ([NY2], "filename")
    r = ok(routing.route("x.pdf", folder, None))
    assert (r.numbers, r.source) == ([LDN], "folder")


def test_to_from_order_is_respected(hot: Path) -> None:
    folder = Folder(hot, to=[LDN], to_from=["folder", "filename", "sidecar"])
    assert ok(routing.route(f"{NY2} x.pdf", folder, {"to": NY})).source == "folder"
    folder = Folder(hot, to=[LDN], to_from=["filename", "sidecar"])
    assert ok(routing.route(f"{NY2} x.pdf", folder, {"to": NY})).source == "filename"
    assert ok(routing.route("x.pdf", folder, {"to": NY})).source == "sidecar"


def test_source_not_listed_is_ignored(hot: Path) -> None:
    folder = Folder(hot, to=[LDN], to_from=["folder"])
    assert ok(routing.route(f"{NY} x.pdf", folder, {"to": NY2})).numbers == [LDN]
    # The sidecar's options are ignored too when the folder does not take sidecars.
    assert ok(routing.route("x.pdf", folder, {"fax": {"csid": "X"}})).options.csid == ""


def test_sidecar_without_to_falls_through_but_keeps_its_options(hot: Path) -> None:
    r = ok(routing.route("x.pdf", Folder(hot, to=[LDN]), {"fax": {"resolution": "fine"}}))
    assert (r.source, r.numbers, r.options.resolution) == ("folder", [LDN], "fine")


def test_no_destination(hot: Path) -> None:
    rej = refused(lambda: routing.route("invoice.pdf", Folder(hot), None))
    assert rej.reason.startswith("no destination")


def test_folder_broadcast_list_deduplicates(hot: Path) -> None:
    folder = Folder(hot, to=["+1 212 555 0100", LDN, "(212) 555-0100", NY2])
    r = ok(routing.route("x.pdf", folder, None))
    assert r.numbers == [NY, LDN, NY2]
    assert len(r.decisions) == 4


def test_sidecar_list_and_one_bad_number_rejects_all(hot: Path) -> None:
    assert ok(routing.route("x.pdf", Folder(hot), {"to": [NY, LDN]})).numbers == [NY, LDN]
    rej = refused(lambda: routing.route("x.pdf", Folder(hot), {"to": [NY, "+1 900 234 5678"]}))
    assert "+1 900 234 5678" in rej.reason and "+1900*" in rej.reason
    assert [d.ok for d in rej.decisions] == [True, False]


def test_sidecar_to_must_be_quoted_strings(hot: Path) -> None:
    assert "quoted" in refused(lambda: routing.route("x.pdf", Folder(hot), {"to": 12125550100})).reason
    assert "quoted" in refused(lambda: routing.route("x.pdf", Folder(hot), {"to": [NY, 1]})).reason


def test_sidecar_unknown_key_is_refused_not_ignored(hot: Path) -> None:
    rej = refused(lambda: routing.route("x.pdf", Folder(hot, to=[LDN]), {"too": NY}))
    assert "too" in rej.reason


# --- file name tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "numbers"),
    [
        ("+12125550100 invoice.pdf", [NY]),
        ("+12125550100_invoice.pdf", [NY]),
        ("+12125550100.pdf", [NY]),
        ("+1-212-555-0100 invoice.pdf", [NY]),
        ("2125550100 invoice.pdf", [NY]),
        ("invoice fax=12125550100.pdf", [NY]),
        ("invoice_fax=+442079460000.pdf", [LDN]),
        ("Invoice FAX=+1(212)555-0100 final.pdf", [NY]),
        ("fax=12125550100 fax=12125550199.pdf", [NY, NY2]),
        ("+12125550199 x fax=12125550100.pdf", [NY]),  # the explicit fax= form wins
    ],
)
def test_filename_token_forms(hot: Path, name: str, numbers: list[str]) -> None:
    r = ok(routing.route(name, Folder(hot, to_from=["filename"]), None))
    assert (r.numbers, r.source) == (numbers, "filename")


@pytest.mark.parametrize(
    "name",
    [
        "invoice.pdf",
        "123456 short.pdf",
        "20240115_093012.pdf",
        "2024-01-15 scan.pdf",
        "scan 2125550100.pdf",
        "invoicefax=12125550100.pdf",
    ],
)
def test_names_without_a_token(hot: Path, name: str) -> None:
    assert numbers_in_name(name) == []
    assert ok(routing.route(name, Folder(hot, to=[LDN]), None)).source == "folder"


def test_filename_number_refused_by_allow(hot: Path) -> None:
    folder = Folder(hot, to_from=["filename"], allow=["+1212*"])
    rej = refused(lambda: routing.route("+442079460000 x.pdf", folder, None))
    assert "+442079460000" in rej.reason and "allow" in rej.reason


def test_simulator_number_only_by_explicit_allow(hot: Path) -> None:
    assert refused(lambda: routing.route("+99999996017 x.pdf", Folder(hot), None))
    r = ok(routing.route("+99999996017 x.pdf", Folder(hot, allow=["+*", "+9999999*"]), None))
    assert r.numbers == ["+99999996017"]
    assert refused(
        lambda: routing.route("x.pdf", Folder(hot, allow=["+9999999*"], deny=["+9*"]), {"to": "+99999996017"})
    )


# --- sidecar fax overrides ----------------------------------------------------------------------------

OVERRIDES: list[tuple[str, Any]] = [
    ("csid", "ACME ACCOUNTS"),
    ("page_header", "To: {To}"),
    ("subject", "{stem} for {folder}"),
    ("contact", "Jane"),
    ("reply_address", "ops@example.com"),
    ("page_size", "Letter"),
    ("orientation", "landscape"),
    ("resolution", "fine"),
    ("rendering", "fine"),
    ("retries", 0),
]


@pytest.mark.parametrize(("key", "value"), OVERRIDES)
def test_sidecar_overrides_each_option(hot: Path, key: str, value: Any) -> None:
    r = ok(routing.route("x.pdf", Folder(hot), {"to": NY, "fax": {key: value}}))
    assert getattr(r.options, key) == value
    untouched = {k: v for k, v in FaxOptions().model_dump().items() if k != key}
    assert {k: getattr(r.options, k) for k in untouched} == untouched


def test_sidecar_cover_page_inside_hot_folder(hot: Path) -> None:
    (hot / "covers").mkdir()
    (hot / "covers" / "c.pdf").write_bytes(b"%PDF-1.4")
    r = ok(routing.route("x.pdf", Folder(hot), {"to": NY, "fax": {"cover_page": "covers/c.pdf"}}))
    assert r.options.cover_page == (hot / "covers" / "c.pdf").resolve()


@pytest.mark.parametrize("path", ["../secret.pdf", "/etc/passwd", "covers/../../x.pdf", "link/c.pdf", ".", ""])
def test_sidecar_cover_page_escape_is_refused(hot: Path, path: str) -> None:
    (hot.parent / "outside").mkdir()
    (hot / "link").symlink_to(hot.parent / "outside")
    rej = refused(lambda: routing.route("x.pdf", Folder(hot), {"to": NY, "fax": {"cover_page": path}}))
    assert "cover_page" in rej.reason


@pytest.mark.parametrize(
    ("fax", "fragment"),
    [
        ({"paper": "A4"}, "unknown option(s) paper"),
        ({"page_size": "A3"}, "must be one of A4, Letter, Legal, B4"),
        ({"orientation": "sideways"}, "fax.orientation"),
        ({"resolution": "high"}, "fax.resolution"),
        ({"rendering": True}, "fax.rendering"),
        ({"retries": 11}, "0 to 10"),
        ({"retries": True}, "0 to 10"),
        ({"retries": "3"}, "0 to 10"),
        ({"csid": "x" * 21}, "20 characters"),
        ({"contact": 5}, "must be text"),
        ("fine", "must be a mapping"),
    ],
)
def test_sidecar_bad_options_are_rejections(hot: Path, fax: Any, fragment: str) -> None:
    assert fragment in refused(lambda: routing.route("x.pdf", Folder(hot), {"to": NY, "fax": fax})).reason


# --- sidecar files ------------------------------------------------------------------------------------


def test_sidecar_names() -> None:
    assert names.sidecar_path(Path("a b.pdf")) == Path("a b.pdf.fax.yaml")
    assert names.is_sidecar("a b.pdf.fax.yaml") and names.is_sidecar("a b.pdf.FAX.YAML")
    assert not names.is_sidecar("a.pdf") and not names.is_sidecar(".fax.yaml")


def test_load_sidecar(tmp_path: Path) -> None:
    p = tmp_path / "x.pdf.fax.yaml"
    p.write_text('to: ["+12125550100"]\nfax: {resolution: fine}\n')
    assert routing.load_sidecar(p) == {"to": [NY], "fax": {"resolution": "fine"}}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"- a\n- b\n", "mapping"),
        (b"to: [unclosed\n", "not valid"),
        (b"", "mapping"),
        (b"\xff\xfe", "not valid"),
        (b"to: '" + b"1" * 70_000 + b"'\n", "larger than 64 KB"),
        (b"!!python/object:os.system {}\n", "not valid"),
        (b"to: '+12125550100'\nto: '+12125550199'\n", "duplicate key 'to' (first given on line 1)"),
    ],
)
def test_load_sidecar_problems(tmp_path: Path, content: bytes, fragment: str) -> None:
    p = tmp_path / "x.pdf.fax.yaml"
    p.write_bytes(content)
    assert fragment in refused(lambda: routing.load_sidecar(p)).reason


def test_load_sidecar_refuses_symlink_and_missing(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("to: '+12125550100'\n")
    (tmp_path / "x.pdf.fax.yaml").symlink_to(tmp_path / "real.yaml")
    refused(lambda: routing.load_sidecar(tmp_path / "x.pdf.fax.yaml"))
    refused(lambda: routing.load_sidecar(tmp_path / "gone.fax.yaml"))


def test_explain_lines(hot: Path) -> None:
    lines = ok(routing.route("x.pdf", Folder(hot, to=[NY]), None)).explain_lines()
    assert lines[0] == f"destinations from folder: {NY}"
    assert any("'+12125550100' -> +12125550100: ok" in line for line in lines)
    assert any(line.strip().startswith("resolution:") for line in lines)
    rej = refused(lambda: routing.route("x.pdf", Folder(hot, to=["+19002345678"]), None))
    assert rej.explain_lines()[0].startswith("rejected:") and "refused" in rej.explain_lines()[1]


# --- faxfields ----------------------------------------------------------------------------------------


def fields(
    options: FaxOptionsModel, numbers: list[str] | None = None, now: datetime = NOW, name: str = "invoice 42.pdf"
) -> dict[str, object]:
    return faxfields.sendfax_fields(
        options, numbers=numbers or [NY], document_name=name, folder_name="accounting", reference="fd-7Q2K9", now=now
    )


def test_default_mapping_is_every_field() -> None:
    assert fields(FaxOptions()) == {
        "FaxNumbers": NY,
        "Contacts": "",
        "Postpone": faxfields.ASAP,
        "RetriesToPerform": 3,
        "CSID": "",
        "PageHeader": "N",
        "JobID": "fd-7Q2K9",
        "Subject": "invoice 42.pdf [fd-7Q2K9]",
        "ReplyAddress": "",
        "PageSize": "A4",
        "PageOrientation": "Portrait",
        "IsHighResolution": False,
        "IsFineRendering": False,
    }
    assert datetime(2001, 12, 31, tzinfo=UTC) == faxfields.ASAP


def test_every_option_maps() -> None:
    options = FaxOptions(
        csid="ACME",
        page_header="To: {To}",
        subject="{stem}",
        contact="AP; Team",
        reply_address="ops@example.com",
        page_size="Legal",
        orientation="landscape",
        resolution="fine",
        rendering="fine",
        retries=7,
    )
    f = fields(options, numbers=[NY, LDN])
    assert f["FaxNumbers"] == f"{NY};{LDN}"
    assert f["Contacts"] == "AP, Team;AP, Team"  # one per number; a ';' inside would shift them
    assert (f["CSID"], f["PageHeader"], f["ReplyAddress"], f["PageSize"]) == (
        "ACME",
        "To: {To}",
        "ops@example.com",
        "Legal",
    )
    assert (f["PageOrientation"], f["IsHighResolution"], f["IsFineRendering"]) == ("Landscape", True, True)
    assert (f["RetriesToPerform"], f["JobID"], f["Subject"]) == (7, "fd-7Q2K9", "invoice 42 [fd-7Q2K9]")
    assert fields(options.model_copy(update={"resolution": "standard"}))["IsHighResolution"] is False


def test_csid_too_long_and_no_numbers() -> None:
    with pytest.raises(ValueError, match="20"):
        # The config refuses such a csid; faxfields must refuse it too when handed an unvalidated copy.
        fields(FaxOptions().model_copy(update={"csid": "x" * 21}))
    with pytest.raises(ValueError, match="destination"):
        faxfields.sendfax_fields(FaxOptions(), numbers=[], document_name="a", folder_name="b", reference="r", now=NOW)


def test_subject_template_placeholders() -> None:
    s = faxfields.make_subject(
        "{folder}/{stem} {date} {name} {other} {", document_name="a.b.pdf", folder_name="acc", reference="R1", now=NOW
    )
    assert s == "acc/a.b 2024-03-06 a.b.pdf {other} { [R1]"
    assert (
        faxfields.make_subject("{name}", document_name="a\nb.pdf", folder_name="", reference="R", now=NOW)
        == "a b.pdf [R]"
    )
    assert faxfields.make_subject("", document_name="a", folder_name="", reference="R", now=NOW) == "[R]"
    with pytest.raises(ValueError):
        faxfields.make_subject("x", document_name="a", folder_name="", reference="has space", now=NOW)
    with pytest.raises(ValueError):
        faxfields.make_subject("x", document_name="a", folder_name="", reference="r" * 59, now=NOW)


@given(
    template=st.text(max_size=120),
    name=st.text(max_size=200),
    reference=st.from_regex(r"[A-Za-z0-9_.:-]{1,40}", fullmatch=True),
)
def test_subject_fits_and_round_trips(template: str, name: str, reference: str) -> None:
    subject = faxfields.make_subject(template, document_name=name, folder_name="f", reference=reference, now=NOW)
    assert len(subject) <= faxfields.SUBJECT_MAX
    assert subject.endswith(f"[{reference}]")
    assert faxfields.subject_reference(subject) == reference


def test_subject_reference_absent() -> None:
    assert faxfields.subject_reference("invoice 42") is None
    assert faxfields.subject_reference("a [b c]") is None


# --- send windows, Postpone and policy ----------------------------------------------------------------

OFFICE = SendWindow("Mon-Fri 08:00-18:00 Europe/London")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 3, 6, 12, 0, tzinfo=UTC), None),  # Wednesday noon: open
        (datetime(2024, 3, 6, 7, 59, tzinfo=UTC), datetime(2024, 3, 6, 8, 0, tzinfo=UTC)),
        (datetime(2024, 3, 6, 18, 0, tzinfo=UTC), datetime(2024, 3, 7, 8, 0, tzinfo=UTC)),
        (datetime(2024, 3, 8, 19, 0, tzinfo=UTC), datetime(2024, 3, 11, 8, 0, tzinfo=UTC)),  # Fri → Mon
        (datetime(2024, 3, 30, 12, 0, tzinfo=UTC), datetime(2024, 4, 1, 7, 0, tzinfo=UTC)),  # BST begins
        (
            datetime(2024, 3, 8, 14, 0, tzinfo=ZoneInfo("America/New_York")),  # 19:00 London
            datetime(2024, 3, 11, 8, 0, tzinfo=UTC),
        ),
    ],
)
def test_next_window_opening(now: datetime, expected: datetime | None) -> None:
    assert next_window_opening(OFFICE, now) == expected
    postpone = faxfields.postpone_for(OFFICE, now)
    assert postpone == (expected or faxfields.ASAP)
    assert postpone.tzinfo is not None and postpone - now <= timedelta(days=30)


def test_overnight_and_all_day_windows() -> None:
    night = SendWindow("Mon 22:00-06:00 UTC")  # Monday 22:00 → Tuesday 06:00
    assert next_window_opening(night, datetime(2024, 3, 5, 3, 0, tzinfo=UTC)) is None
    assert next_window_opening(night, datetime(2024, 3, 5, 6, 0, tzinfo=UTC)) == datetime(
        2024, 3, 11, 22, 0, tzinfo=UTC
    )
    day = SendWindow("Sun 00:00-24:00 UTC")
    assert next_window_opening(day, datetime(2024, 3, 10, 23, 59, tzinfo=UTC)) is None


def test_window_errors() -> None:
    with pytest.raises(ValueError):
        next_window_opening(OFFICE, datetime(2024, 3, 6, 12))
    with pytest.raises(ValueError):
        # The config refuses an empty day list; policy must still not loop or guess if handed one.
        empty = SimpleNamespace(days=[], start=time(8), end=time(9), tz="UTC")
        next_window_opening(empty, NOW)


@given(
    now=st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC)),
    days=st.sets(st.integers(0, 6), min_size=1).map(sorted),
    start=st.times(),
    end=st.times(),
    tz=st.sampled_from(["UTC", "Europe/London", "Asia/Kolkata", "America/Sao_Paulo", "Australia/Lord_Howe"]),
)
def test_postpone_is_asap_or_a_future_opening_within_30_days(
    now: datetime, days: list[int], start: time, end: time, tz: str
) -> None:
    window = SendWindow(days=days, start=start, end=end, tz=tz)
    postpone = fields(FaxOptions(send_window=window), now=now)["Postpone"]
    assert isinstance(postpone, datetime) and postpone.tzinfo is not None
    if postpone != faxfields.ASAP:
        assert now < postpone <= now + timedelta(days=8)
        local = postpone.astimezone(ZoneInfo(tz))
        assert local.weekday() in days


def test_hourly_decision() -> None:
    assert policy.hourly_decision(0, None, 1000.0, None) is None
    assert policy.hourly_decision(119, 120, 1000.0, 500.0) is None
    assert policy.hourly_decision(120, 120, 1000.0, 500.0) == 500.0 + 3600
    assert policy.hourly_decision(500, 120, 1000.0, 500.0) == 500.0 + 3600
    assert policy.hourly_decision(120, 120, 5000.0, 100.0) == 5001.0  # stale counts never mean "now"
    assert policy.hourly_decision(120, 120, 1000.0, None) == 1000.0 + 3600
    assert policy.hourly_decision(0, 0, 1000.0, None) == 1000.0 + 3600


def test_is_duplicate() -> None:
    assert not policy.is_duplicate([], 86400, 1e6)
    assert policy.is_duplicate([1e6 - 86400], 86400, 1e6)
    assert not policy.is_duplicate([1e6 - 86401], 86400, 1e6)
    assert policy.is_duplicate([1e6 + 50], 86400, 1e6)  # clock stepped back: hold, do not resend
    assert not policy.is_duplicate([1e6], 0, 1e6)
    assert policy.is_duplicate(iter([1.0, 1e6 - 5]), 60, 1e6)


def test_sidecar_notify_only_within_allow_domains(hot: Path) -> None:
    folder = Folder(hot, to="+12125550100")
    sidecar = {"notify": ["person@example.org", "boss@sub.example.org"]}
    assert ok(routing.route("a.pdf", folder, sidecar, notify_domains=["example.org"])).numbers == ["+12125550100"]
    outside = refused(
        lambda: routing.route("a.pdf", folder, {"notify": "x@evil.example"}, notify_domains=["example.org"])
    )
    assert outside.reason == "sidecar notify x@evil.example is outside the allowed domains: example.org"
    # Look-alike domains do not pass: "notexample.org" is not example.org.
    refused(lambda: routing.route("a.pdf", folder, {"notify": "x@notexample.org"}, notify_domains=["example.org"]))
    nobody = refused(lambda: routing.route("a.pdf", folder, {"notify": "x@example.org"}))
    assert "notify.allow_domains is empty" in nobody.reason
    assert "must be an e-mail address" in refused(lambda: routing.route("a.pdf", folder, {"notify": 5})).reason
