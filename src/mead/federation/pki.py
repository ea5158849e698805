"""The federation's certificates: a CA and per-node certificates for mTLS links (share stage).

Every nats-server of a federation listens with TLS and requires a client certificate
from the federation CA (``verify_and_map``): the certificate's subject *is* the user, so
no password crosses a link. A site has one certificate named after its pseudonym, used
as its servers' certificate and, on a partner, as the client certificate of its leaf
link (the hub maps subject ``CN=<P>`` to the account ``PARTNER_<P>``); each account user
of a site (``node``, ``node_js``, ``coord``, ``ops_<P>``) has its own client certificate,
``CN=<user>.<site>`` (see :func:`mead.federation.natsconf.site_users`).

Keys are ECDSA P-256; private keys are written 0600 (:mod:`mead.federation.private`).
A partner may bring certificates from its national PKI instead: nats-server only needs
the CA file to hold that PKI's CA and the subject to read ``CN=<name>`` as here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mead.errors import ConfigError
from mead.federation.private import private_dir, write_private

CA_CERT, CA_KEY = "ca.pem", "ca.key"
"""File names of the federation CA in its directory."""


def subject_dn(cn: str) -> str:
    """The subject of a MEAD certificate as nats-server's ``verify_and_map`` reads it."""
    return f"CN={cn}"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san(hosts: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


@dataclass(frozen=True)
class CertAuthority:
    """A federation CA: its certificate and private key (held by the coalition only)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, name: str = "MEAD federation CA", days: int = 3650) -> CertAuthority:
        """A new self-signed CA valid for ``days`` days."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),  # fmt: skip
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, directory: str | Path) -> CertAuthority:
        """Load ``ca.pem`` and ``ca.key`` from ``directory``; errors name the file."""
        d = Path(directory)
        for f in (CA_CERT, CA_KEY):
            if not (d / f).is_file():
                raise ConfigError(str(d / f), "no such file (make a CA: mead keygen --ca DIR)")
        try:
            cert = x509.load_pem_x509_certificate((d / CA_CERT).read_bytes())
        except ValueError as e:
            raise ConfigError(str(d / CA_CERT), f"not a PEM certificate ({e})") from None
        try:
            key = serialization.load_pem_private_key((d / CA_KEY).read_bytes(), password=None)
        except (ValueError, TypeError) as e:
            raise ConfigError(str(d / CA_KEY), f"not an unencrypted PEM key ({e})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(str(d / CA_KEY), "expected an EC private key")
        return cls(cert, key)

    def save(self, directory: str | Path) -> Path:
        """Write ``ca.pem`` (public) and ``ca.key`` (0600, never overwritten) into it."""
        d = private_dir(directory)
        write_private(d / CA_KEY, _pem_key(self.key), exclusive=True)
        (d / CA_CERT).write_bytes(self.cert_pem)
        return d

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, PEM (what every server and client trusts)."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, hosts: Iterable[str] = (), days: int = 365) -> tuple[bytes, bytes]:
        """A certificate for ``cn`` (server and client use) and its new key, both PEM.

        ``hosts`` (DNS names or IP addresses) go in the subject alternative names: the
        names clients reach the holder's listeners at, checked by their TLS handshake.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if san := _san(hosts):
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


@dataclass(frozen=True)
class TlsFiles:
    """The TLS files of one identity: the CA bundle it trusts, its certificate and key."""

    ca_file: str
    cert_file: str
    key_file: str


def write_identity(
    ca: CertAuthority, cn: str, directory: str | Path, hosts: Iterable[str] = ()
) -> TlsFiles:
    """Issue ``cn``'s certificate into ``directory`` (``<cn>.pem``, ``<cn>.key`` 0600,
    and the CA as ``ca.pem``); returns the three paths. Replaces an older certificate
    of ``cn`` (rotation)."""
    d = private_dir(directory)
    cert, key = ca.issue(cn, hosts)
    write_private(d / f"{cn}.key", key)
    (d / f"{cn}.pem").write_bytes(cert)
    if not (d / CA_CERT).exists():
        (d / CA_CERT).write_bytes(ca.cert_pem)
    return TlsFiles(str(d / CA_CERT), str(d / f"{cn}.pem"), str(d / f"{cn}.key"))


__all__ = ["CA_CERT", "CA_KEY", "CertAuthority", "TlsFiles", "subject_dn", "write_identity"]
