"""A throwaway test CA and a server certificate it signed, made with the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.servers._process import (
    ServerError,
    ServerNotInstalled,
)


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, check=False, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise ServerError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace')}")


def make_test_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate it signed for DNS:localhost and IP:127.0.0.1.

    Returns (ca_file, server_cert, server_key). P-256 keys: generation takes milliseconds.
    """
    if shutil.which("openssl") is None:
        raise ServerNotInstalled("openssl is not installed (apt-get install openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
        "-subj", "/CN=po-watcher test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost",
        cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "30", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"
