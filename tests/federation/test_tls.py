"""mTLS links over real nats-servers: certificates from the federation CA, or refused."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_nats import app, settle, wait_drain
from test_natsconf import block

from mead.errors import NatsError
from mead.federation import natsserver
from mead.federation.nats import ConnSpec, NatsBus, client_tls, open_conn
from mead.federation.natsserver import LocalFederation, NatsServerMissing
from mead.federation.pki import CertAuthority, TlsFiles, write_identity


def _connects_without_cert(url: str, ca_file: str) -> bool:
    """Connect with TLS trusting ``ca_file`` but presenting no client certificate."""
    import ssl

    import nats

    async def go() -> bool:
        ctx = ssl.create_default_context(cafile=ca_file)
        try:
            nc = await nats.connect(url, tls=ctx, connect_timeout=3, allow_reconnect=False)
        except Exception:
            return False
        await nc.close()
        return True

    return asyncio.run(asyncio.wait_for(go(), 20))


def _connects(spec: ConnSpec) -> bool:
    async def go() -> bool:
        try:
            nc = await open_conn(spec, "probe", first_s=3.0)
        except NatsError:
            return False
        await nc.close()
        return True

    return asyncio.run(asyncio.wait_for(go(), 20))


@pytest.fixture
def tls_fed(federation_factory: Callable[..., LocalFederation]) -> LocalFederation:
    return federation_factory(tls=True)


def test_configs_hold_no_password_under_mtls(tls_fed: LocalFederation) -> None:
    assert tls_fed.hub is not None
    confs = [tls_fed.hub.conf_path, *(s.conf_path for s in tls_fed.partners.values())]
    for conf in confs:
        text = conf.read_text()
        assert "password:" not in text and "verify_and_map: true" in text
    leaf_user = '{ user: "CN=P1", allowed_connection_types: [LEAFNODE] }'
    assert leaf_user in block(tls_fed.hub.conf_path.read_text(), "PARTNER_P1")


def test_only_certificates_of_the_federation_ca_connect(
    tls_fed: LocalFederation, tmp_path: Path
) -> None:
    assert tls_fed.hub is not None
    url = tls_fed.hub.url
    good = tls_fed.hub_accounts()["HUB"]
    assert good.tls is not None and good.password == ""
    assert _connects(good)
    # no certificate at all (TLS, trusting the CA), nor plaintext with the old password
    assert not _connects_without_cert(url, good.tls.ca_file)
    with pytest.raises(NatsError, match="TLS files"):  # a missing key file is named
        client_tls(TlsFiles(good.tls.ca_file, good.tls.cert_file, "/nonexistent.key"))
    assert not _connects(ConnSpec(url, "coord", "a password"))
    # the same subject from another CA
    rogue = CertAuthority.generate("rogue CA")
    r = write_identity(rogue, "coord.C0", tmp_path / "rogue")
    assert not _connects(ConnSpec(url, tls=TlsFiles(good.tls.ca_file, r.cert_file, r.key_file)))
    # a genuine certificate of the CA whose subject is no user of this server
    assert tls_fed.ca is not None
    odd = write_identity(tls_fed.ca, "intruder.C0", tmp_path / "odd")
    assert not _connects(ConnSpec(url, tls=odd))
    # a partner's site certificate is a leaf identity, not a client of the hub
    p1_site = tls_fed.site_tls("P1")
    assert p1_site is not None and not _connects(ConnSpec(url, tls=p1_site))


def test_leaf_link_over_mtls_carries_released_tracks(tls_fed: LocalFederation) -> None:
    acc = tls_fed.hub_accounts()
    spy = NatsBus(acc["HUB"])
    try:
        sub = spy.connect("spy").subscribe(">")
        p1 = tls_fed.partner_bus("P1").connect("P1")
        for i in range(20):
            p1.publish("tracks.C0", b"released %d" % i)
            p1.publish("tracks.internal", b"national %d" % i)
        p1.flush()
        got = wait_drain(sub, 20)
        got += app(settle(sub))
        assert [s for s, _ in got] == ["from.P1.tracks.C0"] * 20
        assert [d for _, d in got] == [b"released %d" % i for i in range(20)]
    finally:
        spy.close()
    assert tls_fed.hub is not None
    assert "TLS" not in tls_fed.hub.log().replace("TLS required", "")  # no handshake errors


def test_leaf_with_a_rogue_certificate_is_refused(
    tls_fed: LocalFederation, tmp_path: Path
) -> None:
    """P1's server presenting a certificate of another CA (same subject) gets no link."""
    hub, p1 = tls_fed.hub, tls_fed.partners["P1"]
    assert hub is not None
    rogue = write_identity(CertAuthority.generate("rogue CA"), "P1", tmp_path / "rogue")
    site = tls_fed.site_tls("P1")
    assert site is not None
    conf = p1.conf_path.read_text()
    p1.stop()
    # the hub logs the closed link only when it notices the peer gone
    assert tls_fed.wait_links(1), f"P1's link still open at the hub:\n{hub._tail()}"
    conf = conf.replace(site.cert_file, rogue.cert_file)
    p1.write_conf(conf.replace(site.key_file, rogue.key_file))
    p1.start()
    time.sleep(3.0)  # the partner retries its link every second
    # each retry is open for the moment of its handshake; a link let in would stay open
    assert tls_fed.wait_links(1, timeout=5.0), f"a rogue link is open:\n{hub._tail()}"
    assert "handshake error" in hub.log()


def test_ca_rotation_by_reload_without_restart(tls_fed: LocalFederation, tmp_path: Path) -> None:
    """A new CA added to the hub's bundle and reloaded (SIGHUP): certificates of the new CA
    are accepted from then on, with the same server process and its links kept."""
    hub = tls_fed.hub
    assert hub is not None and hub.proc is not None
    pid, links = hub.proc.pid, tls_fed.links_up()
    new_ca = CertAuthority.generate("MEAD federation CA 2027")
    fresh = write_identity(new_ca, "coord.C0", tmp_path / "new")
    good = tls_fed.hub_accounts()["HUB"]
    assert good.tls is not None
    trust_both = tmp_path / "bundle.pem"
    trust_both.write_bytes(Path(good.tls.ca_file).read_bytes() + new_ca.cert_pem)
    new_spec = ConnSpec(hub.url, tls=TlsFiles(good.tls.ca_file, fresh.cert_file, fresh.key_file))
    assert not _connects(new_spec)  # not trusted yet
    hub.write_conf(hub.conf_path.read_text().replace(good.tls.ca_file, str(trust_both)))
    hub.reload()
    assert _connects(new_spec) and _connects(good)
    assert hub.proc.pid == pid and tls_fed.links_up() == links == 2


def test_binary_hash_is_verified(
    nats_server_bin: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    said = natsserver.verify_nats_server(nats_server_bin)
    assert "sha256" in said
    monkeypatch.setenv("NATS_SERVER_SHA256", "0" * 64)
    with pytest.raises(NatsServerMissing, match="not NATS_SERVER_SHA256"):
        natsserver.verify_nats_server(nats_server_bin)
    # a modified copy of the binary is not a pinned build
    monkeypatch.delenv("NATS_SERVER_SHA256")
    copy = tmp_path / "nats-server"
    copy.write_bytes(Path(nats_server_bin).read_bytes() + b"\0")
    copy.chmod(0o700)
    with pytest.raises(NatsServerMissing, match="not a pinned nats-server build"):
        natsserver.verify_nats_server(str(copy))
    assert subprocess.run([str(copy), "--version"], capture_output=True).returncode == 0


def test_keygen_issues_certificates_natsconf_renders_mtls(
    nats_server_bin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mead.cli import main

    small = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"
    pki, keys = tmp_path / "pki", tmp_path / "keys"
    assert main(["keygen", "--ca", str(pki)]) == 0
    assert main(["keygen", "--ca", str(pki)]) == 2  # never replaces the CA key
    for n in ("C0", "P1", "P2"):
        args = ["keygen", n, "--ca", str(pki), "--scenario", str(small), "--out", str(keys)]
        assert main(args) == 0
    assert main(["keygen", "X9", "--ca", str(pki), "--scenario", str(small)]) == 2
    assert "neither the coordinator nor a partner (known: C0, P1, P2)" in capsys.readouterr().err
    tls = keys / "tls"
    assert {p.name for p in tls.glob("*.pem")} >= {
        "ca.pem", "C0.pem", "coord.C0.pem", "ops_P1.C0.pem", "P1.pem", "node.P1.pem",
        "node_js.P1.pem",
    }  # fmt: skip
    assert {p.stat().st_mode & 0o777 for p in tls.glob("*.key")} == {0o600}
    ca = CertAuthority.load(pki)
    from cryptography import x509

    node = x509.load_pem_x509_certificate((tls / "node.P1.pem").read_bytes())
    assert node.issuer == ca.cert.subject and node.subject.rfc4514_string() == "CN=node.P1"
    out = tmp_path / "conf"
    args = ["natsconf", str(small), "--tls-dir", str(tls), "--hub-leaf", "127.0.0.1:7422",
            "--store", str(tmp_path / "js"), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    for name in ("hub", "P1", "P2"):
        text = (out / f"{name}.conf").read_text()
        assert "password" not in text and "verify_and_map: true" in text
        res = subprocess.run([nats_server_bin, "-t", "-c", str(out / f"{name}.conf")],
                             capture_output=True, text=True, timeout=10)  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
    # the hub as a cluster of three: one config per server, routes under mTLS, and the
    # partners' leaf links listing every server
    hubs = [f"10.0.0.{i}" for i in (1, 2, 3)]
    out = tmp_path / "cluster"
    args = ["natsconf", str(small), "--tls-dir", str(tls), "--store", str(tmp_path / "js"),
            "--out", str(out)]  # fmt: skip
    args += [a for h in hubs for a in ("--hub-leaf", f"{h}:7422", "--hub-route", f"{h}:6222")]
    assert main(args) == 0
    for i in (1, 2, 3):
        text = (out / f"hub-{i}.conf").read_text()
        assert f"server_name: C0-{i}" in text and "verify: true" in text
        assert all(f'"nats-route://{h}:6222"' in text for h in hubs)
        res = subprocess.run([nats_server_bin, "-t", "-c", str(out / f"hub-{i}.conf")],
                             capture_output=True, text=True, timeout=10)  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
    assert all(f"nats-leaf://{h}:7422" in (out / "P1.conf").read_text() for h in hubs)
    assert main(args[:-2]) == 2  # a leaf address short of the servers: refused


def test_health_status_crosses_the_leaf_to_the_coordinator_only(tls_fed: LocalFederation) -> None:
    from test_nats import T0, ids, opener

    from mead.federation.envelope import seal
    from mead.messages import RadarStatus, Status

    keys = ids("status")
    acc = tls_fed.hub_accounts()
    coord, other = NatsBus(acc["HUB"]), NatsBus(tls_fed.partner_accounts("P2")["LOCAL"])
    try:
        sub = coord.connect("C0").subscribe("status.C0")
        spy = other.connect("spy").subscribe(">")
        p1 = tls_fed.partner_bus("P1").connect("P1")
        st = Status(node="P1", t=T0, state="degraded",
                    radars=(RadarStatus(radar="radar-0", state="down", reach=0.0),))  # fmt: skip
        p1.publish("status.C0", seal(keys["P1"], st, T0))
        p1.flush()
        got = wait_drain(sub, 1)
        assert [s for s, _ in got] == ["status.C0"]
        env, msg = opener(keys).open(got[0][1])
        assert env.sender == "P1" and msg == st
        assert app(settle(spy)) == []  # P2 hears nothing of P1's health
    finally:
        coord.close()
        other.close()
