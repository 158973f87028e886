"""Conventions with one owner: a sidecar named in any case is a sidecar to every part of the daemon.

`X.pdf.FAX.YAML` is what a Windows user types; the watcher, routing's pairing, intake, filing's work area and
`explain` must all see it as the control file of `X.pdf`, or the document goes out without its numbers.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kit.journals import JournalBackend

from faxdropd.cli.explain import explain_file
from faxdropd.config import Config, parse_config
from faxdropd.config.fields import CSID_MAX
from faxdropd.document import routing
from faxdropd.document.sample import make_sample_pdf
from faxdropd.errors import ConfigError
from faxdropd.files import filing, names
from faxdropd.interfax import upload
from faxdropd.interfax.faxfields import sendfax_fields
from faxdropd.jobs import intake
from faxdropd.watch.scan import Ready
from faxdropd.watch.stability import is_wanted

SPELLINGS = ["x.pdf.fax.yaml", "x.pdf.FAX.YAML", "x.pdf.Fax.Yaml"]


def config(tmp_path: Path, **folder: Any) -> Config:
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password_env": "PW"},
        "state_dir": str(tmp_path / "state"),
        "folders": [{"path": str(tmp_path / "hot"), "to": "+12125550100", **folder}],
    }
    return parse_config(data, base_dir=tmp_path, env={"PW": "not-a-real-password"})


def settle(directory: Path) -> None:
    # The cached listing is trusted only for a directory whose mtime has settled: age it rather than wait.
    old = time.time() - 60
    os.utime(directory, (old, old))


@pytest.mark.parametrize("name", SPELLINGS)
def test_the_watcher_and_the_work_area_see_any_case_as_a_sidecar(name: str, tmp_path: Path) -> None:
    assert names.is_sidecar(name)
    assert is_wanted(name, ["*.pdf"])  # taken whatever the include, as every sidecar
    assert Ready("hot", tmp_path / name).is_sidecar
    assert names.sidecar_document(tmp_path / name) == tmp_path / "x.pdf"
    work = tmp_path / "w"
    work.mkdir()
    hot = tmp_path
    (work / "j1__x.pdf").write_bytes(b"doc")
    (work / f"j1__{name}").write_text("to: '+12125550199'\n")
    os.rename(work, hot / names.WORK_DIR)
    # Released sidecars first, so their document is routed with them.
    assert [p.name for p in filing.cleanup_work(hot, set())] == [f"j1__{name}", "j1__x.pdf"]


def test_is_sidecar_refuses_a_bare_suffix_and_other_names() -> None:
    assert not names.is_sidecar(".FAX.YAML")
    assert not names.is_sidecar("x.pdf")
    assert not names.is_sidecar("x.fax.yml")


@pytest.mark.parametrize("name", SPELLINGS)
@pytest.mark.parametrize("settled", [True, False])
def test_find_sidecar_pairs_any_case_with_its_document(name: str, settled: bool, tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(b"doc")
    (tmp_path / "xx.pdf").write_bytes(b"doc")
    (tmp_path / name).write_text("to: '+12125550199'\n")
    if settled:
        settle(tmp_path)
    assert names.find_sidecar(tmp_path / "x.pdf") == tmp_path / name
    assert names.find_sidecar(tmp_path / "xx.pdf") is None
    assert names.find_sidecar(tmp_path / "X.pdf") is None  # only the suffix is case-blind


def test_a_sidecar_added_after_a_cached_listing_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"doc")
    settle(tmp_path)
    assert names.find_sidecar(tmp_path / "a.pdf") is None
    (tmp_path / "a.pdf.FAX.YAML").write_text("to: '+12125550199'\n")  # changes the directory's mtime
    assert names.find_sidecar(tmp_path / "a.pdf") == tmp_path / "a.pdf.FAX.YAML"


@pytest.mark.parametrize("name", SPELLINGS)
def test_intake_claims_an_upper_case_sidecar_with_its_document(
    name: str, tmp_path: Path, journal_backend: JournalBackend
) -> None:
    folder = config(tmp_path, to_from=["sidecar", "folder"]).folders[0]
    folder.path.mkdir()
    doc = folder.path / "x.pdf"
    doc.write_bytes(b"%PDF-1.4 test\n%%EOF\n")
    (folder.path / name).write_text("to: '+12125550199'\n")
    journal = journal_backend.open(tmp_path / "state")
    try:
        [job] = intake.claim_batch(journal, [(folder, doc)])
    finally:
        journal.close()
    assert job.sidecar_path is not None and Path(job.sidecar_path).name.endswith(name)
    assert not (folder.path / name).exists()


@pytest.mark.parametrize("name", SPELLINGS)
def test_explain_reads_an_upper_case_sidecar(name: str, tmp_path: Path) -> None:
    cfg = config(tmp_path, to_from=["sidecar", "folder"], allow=["+1*"])
    hot = cfg.folders[0].path
    hot.mkdir()
    (hot / "x.pdf").write_bytes(make_sample_pdf(pages=1, text="x"))
    (hot / name).write_text("to: '+12125550199'\n")
    lines, code = explain_file(cfg, hot / "x.pdf")
    assert code == 0, lines
    assert f"sidecar:     {name} (filed with the document)" in lines
    assert any("destinations from sidecar: +12125550199" in line for line in lines), lines


# --- limits with one owner ------------------------------------------------------------------------------


def test_the_csid_limit_is_the_same_in_the_config_a_sidecar_and_sendfax(tmp_path: Path) -> None:
    longest, too_long = "x" * CSID_MAX, "x" * (CSID_MAX + 1)
    folder = config(tmp_path, fax={"csid": longest}).folders[0]
    assert folder.fax.csid == longest
    with pytest.raises(ConfigError, match=f"at most {CSID_MAX} characters"):
        config(tmp_path, fax={"csid": too_long})
    assert routing.route("x.pdf", folder, {"fax": {"csid": longest}}).options.csid == longest
    with pytest.raises(routing.Rejection, match=f"at most {CSID_MAX} characters"):
        routing.route("x.pdf", folder, {"fax": {"csid": too_long}})
    now = datetime.now(UTC)
    args: dict[str, Any] = {"numbers": ["+12125550100"], "document_name": "x.pdf", "folder_name": "f"}
    assert sendfax_fields(folder.fax, reference="fd-1", now=now, **args)["CSID"] == longest
    with pytest.raises(ValueError, match="longer than"):
        sendfax_fields(folder.fax.model_copy(update={"csid": too_long}), reference="fd-1", now=now, **args)


def test_inline_or_chunked_is_decided_by_the_total_of_all_parts() -> None:
    def part(size: int) -> upload.Part:
        return upload.Part("PDF", size, lambda _n: [b"x" * size])

    assert upload.is_inline([part(600), part(400)], 1000)  # exactly the limit still goes inline
    assert not upload.is_inline([part(600), part(401)], 1000)  # a cover page can tip it over


def test_a_recent_listing_is_not_reused_once_stale_even_if_the_mtime_looks_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.pdf").write_bytes(b"doc")
    recent = time.time_ns()
    os.utime(tmp_path, ns=(recent, recent))
    assert names.find_sidecar(tmp_path / "a.pdf") is None
    # A share with coarse timestamps: the sidecar arrives within the same mtime tick as the listing.
    (tmp_path / "a.pdf.FAX.YAML").write_text("to: '+12125550199'\n")
    os.utime(tmp_path, ns=(recent, recent))
    monkeypatch.setattr(names, "_LISTING_FRESH", 0.0)  # the listing is no longer the answer of one batch
    assert names.find_sidecar(tmp_path / "a.pdf") == tmp_path / "a.pdf.FAX.YAML"


# Names built from what can fool a case-blind suffix test: the suffix's letters in both cases, characters that
# casefold to more than one (dotted capital I, sharp s) or to an ASCII letter (long s, the Kelvin sign), an
# undecodable byte, a newline.
_NAME_PARTS = st.sampled_from(
    [
        *("a", "A", "f", "F", "x", "X", "y", "Y", "m", "M", "l", "L", ".", "\u017f", "\u212a", "\u0130", "\u00df"),
        *("\udcff", "\n", " ", "\u00e9", ".fax.yaml", ".FAX.YAML", ".Fax.Yaml", ".fax.yam"),
    ]
)


@given(st.lists(st.lists(_NAME_PARTS, max_size=6).map("".join).filter(bool), max_size=12))
def test_the_listing_search_finds_exactly_the_odd_spellings_is_sidecar_takes(listing: list[str]) -> None:
    expected = {n for n in listing if names.is_sidecar(n) and not n.endswith(names.SIDECAR_SUFFIX)}
    assert names.odd_sidecars_in(listing) == expected
