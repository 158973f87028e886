"""T14: TLS is always verified. The emulator serves HTTPS on 127.0.0.1 with a self-signed, an expired and a
wrong-host certificate: zero submissions and a clear `account.paused` log line each time. With the right CA
bundle configured (interfax.verify_tls: ca.pem) the same daemon sends end to end.

Certificates are made with the `cryptography` package, fresh per test session.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from daemonkit import PASSWORD, DaemonProcess, drop, receipts, wait_for, write_config

from faxdropd.document.sample import make_sample_pdf
from faxdropd.emulator.server import EmulatorServer

pytestmark = pytest.mark.reliability

NOW = dt.datetime.now(dt.UTC)
Key = ec.EllipticCurvePrivateKey


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str,
    key: Key,
    issuer: tuple[x509.Name, Key] | None,
    *,
    hosts: list[str],
    ca: bool = False,
    days: tuple[int, int] = (-1, 30),
) -> x509.Certificate:
    issuer_name, issuer_key = issuer if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, stem: str, cert: x509.Certificate, key: Key) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("faxdropd test CA", ca_key, None, hosts=[], ca=True, days=(-2, 365))
    out = {"ca": _write(folder, "ca", ca, ca_key)}
    local = ["127.0.0.1", "localhost"]
    specs: dict[str, dict[str, Any]] = {
        "good": {"hosts": local, "signed": True},
        "self_signed": {"hosts": local, "signed": False},
        "expired": {"hosts": local, "signed": True, "days": (-30, -1)},
        "wrong_host": {"hosts": ["example.invalid"], "signed": True},
    }
    for stem, spec in specs.items():
        key = ec.generate_private_key(ec.SECP256R1())
        issuer = (ca.subject, ca_key) if spec["signed"] else None
        cert = _cert(spec["hosts"][0], key, issuer, hosts=spec["hosts"], days=spec.get("days", (-1, 30)))
        out[stem] = _write(folder, stem, cert, key)
    return out


@pytest.fixture
def tls_emulator(
    request: pytest.FixtureRequest, pki: dict[str, tuple[Path, Path]], tmp_path: Path
) -> Iterator[EmulatorServer]:
    cert, key = pki[request.param]
    server = EmulatorServer(
        username="demo", password=PASSWORD, store=tmp_path / "store", status_delay=0.5, tls_cert=cert, tls_key=key
    )
    server.start()
    yield server
    server.stop()


def run_daemon(
    tmp_path: Path, server: EmulatorServer, daemons: list[DaemonProcess], verify: bool | str
) -> tuple[DaemonProcess, Path]:
    hot = tmp_path / "hot"
    hot.mkdir()
    assert server.url.startswith("https://127.0.0.1:")
    cfg = write_config(
        tmp_path, server.url, [{"path": str(hot), "to": "+99999990"}], extra={"interfax": {"verify_tls": verify}}
    )
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    drop(hot, "doc.pdf", make_sample_pdf(text="tls"))
    return d, hot


@pytest.mark.parametrize(
    ("tls_emulator", "trust_ca", "words"),
    [
        ("self_signed", False, "self-signed certificate"),
        ("expired", True, "certificate has expired"),
        ("wrong_host", True, "IP address mismatch"),
    ],
    indirect=["tls_emulator"],
)
def test_bad_certificates_are_refused(
    tmp_path: Path,
    tls_emulator: EmulatorServer,
    trust_ca: bool,
    words: str,
    pki: dict[str, tuple[Path, Path]],
    daemons: list[DaemonProcess],
) -> None:
    verify: bool | str = str(pki["ca"][0]) if trust_ca else True  # True: the default CA bundle
    d, hot = run_daemon(tmp_path, tls_emulator, daemons, verify)
    paused = wait_for(lambda: [e for e in d.events() if e.get("event") == "account.paused"], 60, what="account.paused")
    assert paused[0]["level"] == "error"  # an account pause needs a person: error (faxdropd/events)
    assert "TLS verification failed" in paused[0]["reason"] and words in paused[0]["reason"], paused[0]
    assert tls_emulator.emulator.ledger()["submissions"] == []
    assert not receipts(hot / "sent")
    assert d.proc is not None and d.proc.poll() is None
    assert PASSWORD not in d.log_text()


@pytest.mark.parametrize("tls_emulator", ["good"], indirect=True)
def test_the_right_ca_bundle_works_end_to_end(
    tmp_path: Path, tls_emulator: EmulatorServer, pki: dict[str, tuple[Path, Path]], daemons: list[DaemonProcess]
) -> None:
    d, hot = run_daemon(tmp_path, tls_emulator, daemons, str(pki["ca"][0]))
    wait_for(lambda: receipts(hot / "sent"), 60, what="delivery over verified TLS")
    [receipt] = receipts(hot / "sent")
    assert receipt["outcome"] == "delivered"
    assert len(tls_emulator.emulator.ledger()["submissions"]) == 1
    assert not [e for e in d.events() if e.get("event") == "account.paused"]
    assert d.stop() == 0
