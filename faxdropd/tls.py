"""How a certificate is checked: `verify_tls` of `interfax:` and of `notify.smtp:`, in a leaf both can load.

true: the system's CA store (an office's own CA, e.g. a TLS-inspecting proxy's, is trusted once IT has added it
there), or certifi's bundle where the system has none; a path: that CA file, or a folder of hashed CA files;
false: nothing is checked. The host name is always checked unless verification is off.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["tls_context"]


def tls_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is not True:
        if Path(verify).is_dir():
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    context = ssl.create_default_context()
    if not context.cert_store_stats()["x509_ca"] and not _has_capath():
        import certifi  # requests' dependency; loaded only on a system without a CA store

        context.load_verify_locations(cafile=certifi.where())
    return context


def _has_capath() -> bool:
    # OpenSSL reads a CA folder (Debian's /etc/ssl/certs) lazily: cert_store_stats() counts none until used.
    capath = ssl.get_default_verify_paths().capath
    return bool(capath) and Path(capath).is_dir() and any(Path(capath).glob("*.0"))
