"""numbers.normalise: E.164 normalisation, deny/allow globs, simulator pass-through, and never raising."""

from __future__ import annotations

import fnmatch
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxdropd.document.faxnumbers import INVALID, NOT_ALLOWED, NumberDecision, is_catch_all, normalise

E164 = re.compile(r"\+[1-9]\d{1,14}")
ALLOW_ALL = ["+*"]
DENY_PREMIUM = ["+1900*", "+44909*"]
# Built from code points so the source stays ASCII: U+FF10.. full-width digits, U+0660.. Arabic-Indic digits.
FULLWIDTH = str.maketrans("0123456789+", "".join(chr(0xFF10 + i) for i in range(10)) + "\uff0b")
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + i) for i in range(10)))


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 212 555 0100", "US", "+12125550100"),
        ("(212) 555-0100", "US", "+12125550100"),
        ("212.555.0100", "US", "+12125550100"),
        ("  +44 20 7946 0000 ", "US", "+442079460000"),
        ("020 7946 0000", "GB", "+442079460000"),
        ("0044 20 7946 0000", "GB", "+442079460000"),
        ("011 44 20 7946 0000", "US", "+442079460000"),
        ("00 1 212 555 0100", "DE", "+12125550100"),
    ],
)
def test_valid_numbers_normalise_to_e164(raw: str, region: str, expected: str) -> None:
    d = normalise(raw, region, ALLOW_ALL, DENY_PREMIUM)
    assert d == NumberDecision(raw, expected, True, d.reason, "+*")
    assert expected in d.reason


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("1-800-FLOWERS", "characters other than digits"),
        ("+1 212 555 0100 ext 5", "characters other than digits"),
        ("tel:+12125550100", "characters other than digits"),
        ("+1 212 555 0100;+1 212 555 0101", "characters other than digits"),
        ("1+2125550100", "characters other than digits"),
        ("+" + "1" * 21, "more than 20"),
        ("1" * 65, "longer than 64"),
        ("123", "not a valid phone number in region 'US'"),
        ("+99999996017", "not a valid phone number"),
        ("- ( ) .", "no digits"),
        ("+49 201 00000000000", "15 digits"),  # found by hypothesis: valid to phonenumbers, not E.164
    ],
)
def test_unusable_input_is_invalid_with_a_sentence(raw: str, fragment: str) -> None:
    d = normalise(raw, "US", ALLOW_ALL, [])
    assert not d.ok and d.rule == INVALID and fragment in d.reason


def test_deny_wins_over_allow() -> None:
    d = normalise("+1 900 234 5678", "US", ["+1900*", "+*"], ["+1900*"])
    assert (d.ok, d.e164, d.rule) == (False, "+19002345678", "+1900*")
    assert "deny" in d.reason


def test_not_allowed_names_the_patterns() -> None:
    d = normalise("+44 20 7946 0000", "US", ["+1212*"], [])
    assert (d.ok, d.rule, d.e164) == (False, NOT_ALLOWED, "+442079460000")
    assert "+1212*" in d.reason


def test_first_matching_allow_pattern_is_reported() -> None:
    assert normalise("+12125550100", "US", ["+44*", "+1212*", "+*"], []).rule == "+1212*"


@pytest.mark.parametrize("raw", ["+99999996017", "0099999996017", "+9999999 6017"])
def test_simulator_number_needs_an_explicit_allow(raw: str) -> None:
    region = "GB"  # 00 is GB's international prefix, stripped for the pass-through form
    assert not normalise(raw, region, ["+*", "*", "+**", "+[1-9]*", "+?*"], []).ok
    d = normalise(raw, region, ["+*", "+9999999*"], [])
    assert (d.ok, d.e164, d.rule) == (True, "+99999996017", "+9999999*")


def test_simulator_pass_through_still_obeys_deny() -> None:
    d = normalise("+99999996017", "US", ["+9999999*"], ["+99999996*"])
    assert (d.ok, d.rule) == (False, "+99999996*")


def test_invalid_number_not_named_by_allow_is_refused() -> None:
    d = normalise("+99999996017", "US", ["+1212*"], [])
    assert not d.ok and d.rule == INVALID


def test_pass_through_must_still_look_like_e164() -> None:
    # 16 digits: an allow glob cannot vouch for something no network can dial.
    assert not normalise("+9999999601712345", "US", ["+9999999*"], []).ok


@pytest.mark.parametrize("pattern", ["+*", "*", "+**", "+[1-9]*", "+?*", "**", "+*[0-9]"])
def test_catch_alls(pattern: str) -> None:
    assert is_catch_all(pattern)


@pytest.mark.parametrize("pattern", ["+9999999*", "+1*", "*6017", "+[2-9]*", "+1212555????"])
def test_explicit_patterns(pattern: str) -> None:
    assert not is_catch_all(pattern)


def test_unicode_digits_are_refused_by_default_but_phonenumbers_would_convert_them() -> None:
    fullwidth = "+1 212 555 0100".translate(FULLWIDTH)
    arabic = "+1 212 555 0100".translate(ARABIC_INDIC)
    for raw in (fullwidth, arabic):
        refused = normalise(raw, "US", ALLOW_ALL, [])
        assert not refused.ok and "non-ASCII" in refused.reason
        converted = normalise(raw, "US", ALLOW_ALL, [], unicode_digits=True)
        assert (converted.ok, converted.e164) == (True, "+12125550100")


def test_unicode_opt_in_does_not_open_other_characters() -> None:
    # Circled and superscript digits are not decimal digits: still refused.
    assert not normalise("+1 212 555 010\u2460", "US", ALLOW_ALL, [], unicode_digits=True).ok
    assert not normalise("+1 212 555 010\u00b2", "US", ALLOW_ALL, [], unicode_digits=True).ok


def test_non_string_input_is_refused_not_raised() -> None:
    assert not normalise(None, "US", ALLOW_ALL, []).ok  # type: ignore[arg-type]
    assert not normalise(12125550100, "US", ALLOW_ALL, []).ok  # type: ignore[arg-type]


def test_bad_region_only_breaks_national_numbers() -> None:
    assert normalise("+12125550100", "ZZ", ALLOW_ALL, []).ok
    assert normalise("+12125550100", "", ALLOW_ALL, []).ok
    assert not normalise("2125550100", "ZZ", ALLOW_ALL, []).ok


# --- property tests -------------------------------------------------------------------------------------

SEPARATORS = st.sampled_from(["", " ", "-", ".", "(", ")", "  ", "\t"])
REGIONS = st.sampled_from(["US", "GB", "DE", "FR", "IN", "EG", "JP", "ZZ", ""])
ALLOWS = st.sampled_from([["+*"], ["+1*"], ["+9999999*"], ["+1212*", "+44*"], ["*"], [], ["+[2-9]*"]])
DENIES = st.sampled_from([[], ["+1900*"], ["+1900*", "+44*"], ["+*"], ["*0"]])


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    """Digits with random separators, prefixes and scripts: the shapes people and scanners produce."""
    prefix = draw(st.sampled_from(["", "+", "00", "011", "+1", "+1900", "+44", "0", "+99999996", "+ "]))
    groups = draw(st.lists(st.text("0123456789", min_size=1, max_size=5), min_size=1, max_size=6))
    body = prefix + "".join(draw(SEPARATORS) + g for g in groups)
    script = draw(st.sampled_from(["ascii", "ascii", "fullwidth", "arabic"]))
    if script == "fullwidth":
        body = body.translate(FULLWIDTH)
    elif script == "arabic":
        body = body.translate(ARABIC_INDIC)
    return body


ANY_TEXT = st.one_of(
    phone_like(),
    st.text(max_size=40),
    st.text(alphabet="0123456789+-() .", max_size=80),
    st.text(alphabet="0123456789", min_size=15, max_size=300),
    st.just("+1900 234 5678"),
)


def _check_invariants(d: NumberDecision, raw: str, allow: list[str], deny: list[str]) -> None:
    assert isinstance(d, NumberDecision)
    assert d.raw == raw
    assert isinstance(d.reason, str) and d.reason
    if d.ok:
        assert d.e164 is not None and E164.fullmatch(d.e164), d
        assert d.rule in allow
        assert fnmatch.fnmatchcase(d.e164, d.rule)
        assert not any(fnmatch.fnmatchcase(d.e164, p) for p in deny)
        digits = [c for c in raw if c.isdigit()]
        assert 2 <= len(digits) <= 20


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(raw=ANY_TEXT, region=REGIONS, allow=ALLOWS, deny=DENIES, unicode_digits=st.booleans())
def test_never_raises_and_ok_means_allowed_e164(
    raw: str, region: str, allow: list[str], deny: list[str], unicode_digits: bool
) -> None:
    d = normalise(raw, region, allow, deny, unicode_digits=unicode_digits)
    _check_invariants(d, raw, allow, deny)
    if d.ok and not is_catch_all(d.rule):
        return  # may be an explicit pass-through; the invariants above already hold for it
    if d.ok:
        # Only phonenumbers-valid numbers get through a catch-all.
        import phonenumbers

        assert d.e164 is not None and phonenumbers.is_valid_number(phonenumbers.parse(d.e164))
    if not raw.isascii() and not unicode_digits:
        assert not d.ok


@given(raw=phone_like())
def test_premium_rate_is_always_denied(raw: str) -> None:
    d = normalise(raw, "US", ["+*"], ["+1900*"])
    if d.e164 is not None and d.e164.startswith("+1900"):
        assert not d.ok


@given(digits=st.text("0123456789", min_size=21, max_size=200), sep=SEPARATORS)
def test_more_than_twenty_digits_is_always_refused(digits: str, sep: str) -> None:
    assert not normalise("+" + sep.join(digits), "US", ["+*", "+9*", "+1*"], []).ok
