"""Cursor-on-Target to TAK: what MEAD sends over UDP, TCP and TLS (real sockets on
127.0.0.1), parsed back with takproto and compared with the shared samples; a node's output
sends only what it holds, with stale times, and its alerts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import takproto
from takproto import delimited_protobuf as dpb
from takproto.proto import TakMessage

from mead import geo
from mead.errors import ConfigError
from mead.events import AlertSent
from mead.interop.cot import track2cot
from mead.interop.tak import CotOutput, CotTarget, TakSender
from mead.runtime.live import load_node_config
from mead.runtime.node import Held

SHARED = Path("/work/shared/data/cot")
NAMES = ["hostile_uav", "unknown_air", "hostile_ssm"]


def _sample_xml(name: str) -> bytes:
    ref = json.loads((SHARED / "takproto_decoded.json").read_text())[name]
    return track2cot(
        ref["uid"], ref["type"], ref["sendTime_ms"] / 1000, 30.0, ref["lat"], ref["lon"],
        ref["hae"], ref["ce"], ref["le"], ref["course"], ref["speed_mps"], ref["callsign"],
        remarks="synthetic example written by the project",
    )  # fmt: skip


def _stream_messages(buf: bytes) -> list[TakMessage]:
    """TAK protocol v1 stream: 0xBF, varint length, protobuf; repeated."""
    out, bio = [], BytesIO(buf)
    while bio.tell() < len(buf):
        assert bio.read(1) == b"\xbf"
        out.append(dpb.read(bio, TakMessage))
    return out


def test_udp_sends_the_samples_as_tak_protocol_v1() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    got = _send_samples(CotTarget(url=f"udp://127.0.0.1:{rx.getsockname()[1]}"), rx)
    # unicast UDP carries the stream framing, byte for byte what takproto made of the samples
    assert got == [(SHARED / f"{n}.takstream.bin").read_bytes() for n in NAMES]
    msg = takproto.parse_proto(bytearray(got[2]))
    assert msg.cotEvent.type == "a-h-A-W-M-S-S"
    assert msg.cotEvent.staleTime - msg.cotEvent.sendTime == 30_000


def _send_samples(target: CotTarget, rx: socket.socket) -> list[bytes]:
    """The shared samples sent to ``target`` by a TakSender (which then must have counted
    them sent), as ``rx`` receives them; ``rx`` is closed."""
    rx.settimeout(5.0)
    sender = TakSender(target).start()
    try:
        sender.send([_sample_xml(n) for n in NAMES])
        got = [rx.recv(65535) for _ in NAMES]
    finally:
        sender.close()
        rx.close()
    assert sender.counters["sent"] == len(NAMES)
    return got


class _Server:
    """A TCP (optionally TLS) server on 127.0.0.1 that keeps every byte of one client."""

    def __init__(self, ctx: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10.0)
        self.ctx, self.data, self.peer_cert = ctx, b"", None
        self.failed: OSError | None = None
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
            if self.ctx is not None:
                conn = self.ctx.wrap_socket(conn, server_side=True)
                self.peer_cert = conn.getpeercert()
        except OSError as e:  # a refused handshake (ssl.SSLError), or closed unused
            self.failed = e
            return
        conn.settimeout(10.0)
        with conn:
            while chunk := conn.recv(65535):
                self.data += chunk

    def join(self) -> bytes:
        self.thread.join(15.0)
        self.sock.close()
        return self.data


def test_tcp_stream_to_a_tak_server() -> None:
    server = _Server()
    sender = TakSender(CotTarget(url=f"tcp://127.0.0.1:{server.port}")).start()
    sender.send([_sample_xml(n) for n in NAMES])
    sender.close()
    data = server.join()
    assert data == b"".join((SHARED / f"{n}.takstream.bin").read_bytes() for n in NAMES)
    ref = json.loads((SHARED / "takproto_decoded.json").read_text())
    for m, n in zip(_stream_messages(data), NAMES, strict=True):
        assert (m.cotEvent.uid, m.cotEvent.type) == (ref[n]["uid"], ref[n]["type"])
        assert m.cotEvent.detail.track.speed == pytest.approx(ref[n]["speed_mps"])


def _cert(tmp: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_to_a_tak_server_with_client_certificates(tmp_path: Path) -> None:
    server_cert, server_key = _cert(tmp_path, "server")
    client_cert, client_key = _cert(tmp_path, "node")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(server_cert, server_key)
    ctx.load_verify_locations(client_cert)  # the server admits only this node
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = _Server(ctx)
    target = CotTarget(url=f"tls://127.0.0.1:{server.port}", cert="node.pem", key="node.key",
                       ca="server.pem")  # fmt: skip
    sender = TakSender(target, str(tmp_path)).start()
    sender.send([_sample_xml(n) for n in NAMES])
    sender.close()
    data = server.join()
    assert server.peer_cert is not None  # the node proved who it is
    assert data == b"".join((SHARED / f"{n}.takstream.bin").read_bytes() for n in NAMES)


def test_tls_refuses_a_server_it_cannot_verify(tmp_path: Path) -> None:
    server_cert, server_key = _cert(tmp_path, "server")
    _cert(tmp_path, "other")
    _cert(tmp_path, "node")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(server_cert, server_key)
    server = _Server(ctx)
    target = CotTarget(url=f"tls://127.0.0.1:{server.port}", cert="node.pem", key="node.key",
                       ca="other.pem")  # fmt: skip
    with pytest.raises(ConfigError, match="cannot send CoT there"):
        TakSender(target, str(tmp_path)).start()
    server.join()
    assert isinstance(server.failed, ssl.SSLError) and not server.data


def _held(t: float, keep_both: bool = True) -> Held:
    site = (32.0, 35.0, 0.0)
    enu = np.array([[50e3, 80e3, 40e3], [-30e3, 10e3, 10e3]])
    vel = np.array([[-900.0, -1200.0, -500.0], [230.0, 0.0, 0.0]])
    pos = geo.enu2ecef(enu, *site)
    R = geo.enu_rotation(site[0], site[1])
    x = np.hstack([pos, vel @ R])
    P = np.tile(np.diag([100.0**2] * 3 + [10.0**2] * 3), (2, 1, 1))
    n = 2 if keep_both else 1
    return Held("P1", t, ["P1-T000007", "P1-T000009"][:n], x[:n], ["ballistic", "aircraft"][:n],
                np.array([0.9, 0.8])[:n], np.array(["", "civil"], dtype=object)[:n], None,
                P[:n])  # fmt: skip


def _recv_all(rx: socket.socket, n: int) -> list[Any]:
    return [takproto.parse_proto(bytearray(rx.recv(65535))).cotEvent for _ in range(n)]


def test_node_output_sends_what_it_holds_with_stale_times_and_alerts() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5.0)
    sender = TakSender(CotTarget(url=f"udp://127.0.0.1:{rx.getsockname()[1]}", stale_s=12))
    out = CotOutput("P1", coordinator=False, senders=[sender.start()])
    t0 = 1_714_564_800.0
    try:
        out.show(_held(t0))
        first = _recv_all(rx, 2)
        out.on_event(AlertSent(
            node="P1", alert_id="P1-A1", state="issued", t=t0, recipient="P1", area="Base",
            system_track=7, threat_class="ballistic", impact_lat_deg=32.1,
            impact_lon_deg=35.2, impact_radius_m=2448.0, t_impact=t0 + 95.0, tgo_s=95.0,
        ))  # fmt: skip
        (alert,) = _recv_all(rx, 1)
        out.on_event(AlertSent(
            node="P1", alert_id="P1-A1", state="updated", t=t0 + 2.0, recipient="P1",
            area="Base", system_track=7, threat_class="ballistic", impact_lat_deg=32.1,
            impact_lon_deg=35.2, impact_radius_m=2448.0, t_impact=t0 + 95.0, tgo_s=93.0,
            held=True,
        ))  # fmt: skip
        (held,) = _recv_all(rx, 1)
        out.show(_held(t0 + 5.0, keep_both=False))  # the aircraft is no longer held
        second = _recv_all(rx, 2)
    finally:
        out.close()
        rx.close()
    by_uid = {e.uid: e for e in first}
    assert set(by_uid) == {"MEAD.P1.P1-T000007", "MEAD.P1.P1-T000009"}  # only what it holds
    bm, ac = by_uid["MEAD.P1.P1-T000007"], by_uid["MEAD.P1.P1-T000009"]
    assert (bm.type, ac.type) == ("a-h-A-W-M-S-S", "a-n-A-C-F")  # ADS-B civil: neutral
    assert bm.staleTime - bm.sendTime == 12_000
    assert bm.ce == pytest.approx(100.0, rel=1e-6) and bm.le == pytest.approx(100.0, rel=1e-6)
    # ground speed in the track's own horizontal plane, ~94 km from where 1500 m/s was level
    assert bm.detail.track.speed == pytest.approx(1500.0, rel=0.01)
    assert alert.type == "b-a-o-tbl" and alert.uid == "MEAD.P1.alert.P1-A1"
    assert alert.lat == pytest.approx(32.1) and alert.ce == pytest.approx(1000.0, rel=1e-3)
    assert alert.staleTime == int((t0 + 95.0 + 60.0) * 1000)
    assert 'uid="MEAD.P1.P1-T000007"' in alert.detail.xmlDetail  # linked to its track
    assert "held" not in alert.detail.xmlDetail
    assert "held: coverage lost, last prediction" in held.detail.xmlDetail  # its radars lost
    gone = {e.uid: e for e in second}["MEAD.P1.P1-T000009"]
    assert gone.staleTime == gone.sendTime == int((t0 + 5.0) * 1000)  # dropped at once


@pytest.mark.parametrize(
    ("cot", "match"),
    [
        ("[{url: 'http://x:1'}]", "udp://, tcp:// or tls://"),
        ("[{url: 'tls://127.0.0.1:8089'}]", "needs cert"),
        ("[{url: 'udp://127.0.0.1:6969', stale_s: 0}]", "stale_s"),
        ("[{url: 'udp://127.0.0.1:6969', protocol: json}]", "protocol"),
    ],
)
def test_cot_config_errors_name_the_field(tmp_path: Path, cot: str, match: str) -> None:
    cfg = tmp_path / "n.yaml"
    cfg.write_text(
        "name: P1\nscenario: s.yaml\nkey: k\nregistry: r\n"
        f"nats: {{url: 'nats://x', user: u, password: p}}\ncot: {cot}\n"
    )
    with pytest.raises(ConfigError, match=match) as e:
        load_node_config(cfg)
    assert "$.cot[0]" in str(e.value)


def test_an_unreachable_tak_server_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens there once closed
    with pytest.raises(ConfigError, match=f"tcp://127.0.0.1:{port}: cannot send CoT there"):
        TakSender(CotTarget(url=f"tcp://127.0.0.1:{port}")).start()


@pytest.mark.parametrize("name", NAMES)
def test_mesh_form_sent_on_multicast_matches_the_samples(name: str) -> None:
    # on a multicast url pytak frames with takproto's mesh header; our events give the
    # sample's bytes (sent over a real multicast socket below)
    mesh = takproto.xml2proto(_sample_xml(name), takproto.TAKProtoVer.MESH)
    assert bytes(mesh) == (SHARED / f"{name}.takmesh.bin").read_bytes()


def test_multicast_sends_the_samples_in_mesh_form() -> None:
    """A multicast target sent out of loopback (``iface``) reaches a socket that joined
    the group there: the samples in TAK protocol v1 mesh form, byte for byte."""
    group = "239.2.3.1"
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind((group, 0))
    try:
        mreq = socket.inet_aton(group) + socket.inet_aton("127.0.0.1")
        rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except OSError as e:
        rx.close()
        pytest.skip(f"this kernel refuses multicast on loopback: {e}")
    target = CotTarget(url=f"udp://{group}:{rx.getsockname()[1]}", iface="127.0.0.1")
    got = _send_samples(target, rx)
    assert got == [(SHARED / f"{n}.takmesh.bin").read_bytes() for n in NAMES]
    assert takproto.parse_proto(bytearray(got[0])).cotEvent.type.startswith("a-h-A")


@pytest.mark.parametrize(
    "kwargs, match",
    [({"url": "udp://239.2.3.1:6969", "iface": "lo"}, "IPv4 address"),
     ({"url": "udp://127.0.0.1:6969", "iface": "127.0.0.1"}, "multicast url")],
)  # fmt: skip
def test_a_bad_multicast_interface_is_named(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CotTarget(**kwargs)
