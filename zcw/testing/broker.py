"""A throwaway mosquitto broker on loopback, for tests and the latency benchmark.

Three listeners on free ports: anonymous, password file, and TLS with a CA and a server
certificate generated on the spot. The broker is stopped by its own PID, never by name, so
a system broker on 1883 is left alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from zcw.testing.processes import reap

USERNAME = "zcw"
PASSWORD = "correct horse battery staple"


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )
    if found is None:
        raise RuntimeError(
            "mosquitto is not installed; install it with `sudo apt-get install -y mosquitto` "
            "(scripts/check does this for you)"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_certs(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost, valid for one day."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zcw test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
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
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


def write_other_ca(folder: Path) -> Path:
    """A CA that did not sign the broker's certificate (for the wrong-CA test)."""
    other = folder / "other"
    other.mkdir(exist_ok=True)
    return _write_certs(other)[0]


class Broker:
    """``with Broker(tmp_path) as b:`` runs a broker; ``restart()`` kills and restarts it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.auth_port = free_port()
        self.tls_port = free_port()
        self.ca, cert, key = _write_certs(folder)
        pw = folder / "passwd"
        pw.write_text("")
        subprocess.run(
            ["mosquitto_passwd", "-b", str(pw), USERNAME, PASSWORD],
            check=True,
            capture_output=True,
        )
        pw.chmod(0o600)
        lines = [
            "per_listener_settings true",
            "persistence false",
            f"log_dest file {folder / 'mosquitto.log'}",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"listener {self.auth_port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {pw}",
            f"listener {self.tls_port} 127.0.0.1",
            "allow_anonymous true",
            f"cafile {self.ca}",
            f"certfile {cert}",
            f"keyfile {key}",
        ]
        if os.geteuid() == 0:
            # As root mosquitto would drop to user "mosquitto", which cannot read these files.
            lines.insert(0, "user root")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        running = self.proc is not None and self.proc.poll() is None
        ports = f"port={self.port}, auth={self.auth_port}, tls={self.tls_port}"
        return f"Broker({ports}, running={running})"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited at start: {err}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc is not None:
            reap(self.proc)  # by PID: our broker, nobody else's
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
