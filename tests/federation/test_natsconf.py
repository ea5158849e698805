"""Rendered nats-server configs: accounts, exports, imports; servers accept them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mead.federation.natsconf import (
    Federation,
    HubCluster,
    hub_conf,
    hub_streams,
    partner_conf,
    partner_streams,
    secret,
)
from mead.federation.natsserver import _below_ephemeral, free_port

FED = Federation("C0", {"P1": ["C0"], "P2": ["C0", "P1"]}, b"k" * 32)


def block(conf: str, name: str) -> str:
    """The text of the top-level-in-accounts block ``name { ... }`` (balanced braces)."""
    start = conf.index(f"  {name} {{")
    depth, i = 0, conf.index("{", start)
    for j in range(i, len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[j], 0)
        if depth == 0:
            return conf[start : j + 1]
    raise AssertionError(f"unbalanced block {name}")


def test_partner_exports_only_its_released_subjects() -> None:
    conf = partner_conf(FED, "P2", hub_leaf="hub:7422", store_dir="/s")
    local = block(conf, "LOCAL")
    assert re.findall(r'stream: "(tracks\.[^"]+)" }', local) == ["tracks.C0", "tracks.P1"]
    assert "tracks.internal" not in conf and "tracks.>" not in local
    assert "account: RELEASE" in conf and "account: LOCAL" not in conf.split("leafnodes")[1]
    assert "domain: P2" in conf
    for api in ("STREAM.>", "ACCOUNT.>", "CONSUMER.DELETE.>", "META.>", "SERVER.>"):
        assert f'"$JS.P2.API.{api}"' in conf
    assert f"leaf_P2:{FED.pw('P2/leaf')}@hub:7422" in conf


def test_hub_binds_each_leaf_and_stamps_origin() -> None:
    conf = hub_conf(FED, store_dir="/s", leaf_listen="127.0.0.1:7422", advertise="wan:7422")
    for p in ("P1", "P2"):
        leaf = f'user: leaf_{p}, password: "{FED.pw(p + "/leaf")}", allowed_connection_types'
        assert leaf in block(conf, f"PARTNER_{p}")  # the leaf link lands in its embassy only
        assert f'prefix: "from.{p}"' in conf
        assert f'{{ stream: "alerts.{p}", accounts: [PARTNER_{p}] }}' in conf
        assert f'subject: "alerts.{p}"' in block(conf, f"PARTNER_{p}")
    assert 'advertise: "wan:7422"' in conf
    assert "alerts.P2" not in block(conf, "PARTNER_P1")


def test_passwords_differ_per_label_and_key() -> None:
    assert secret(b"k" * 32, "P1/leaf") != secret(b"k" * 32, "P2/leaf")
    assert secret(b"k" * 32, "P1/leaf") != secret(b"j" * 32, "P1/leaf")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        secret(b"short", "x")
    with pytest.raises(ValueError, match="coordinator's name"):
        Federation("C0", {"C0": []}, b"k" * 32)


def test_streams_are_sourced_across_domains() -> None:
    hub = {s.name: s for s in hub_streams(FED)}
    assert hub["P1_INBOX"].source == ("OUTBOX", "P1") and hub["P1_INBOX"].account == "PARTNER_P1"
    assert hub["P2_ALERTS"].subjects == ("alerts.P2",)
    part = {s.name: s for s in partner_streams(FED, "P1")}
    assert part["ALERTS_IN"].source == ("P1_ALERTS", "C0") and part["ALERTS_IN"].mirror is None
    assert part["OUTBOX"].subjects == ("tracks.C0",) and part["OUTBOX"].account == "RELEASE"


def test_a_hub_cluster_shares_one_domain_replicates_and_partners_fail_over() -> None:
    routes = ["h1:6222", "h2:6222", "h3:6222"]
    server = HubCluster("C0-2", "0.0.0.0:6222", routes)
    conf = hub_conf(FED, store_dir="/s", leaf_listen="0.0.0.0:7422", cluster=server)
    assert "server_name: C0-2" in conf and "domain: C0 }" in conf  # one domain, own name
    cluster = conf[conf.index("cluster {") : conf.index("leafnodes {")]
    assert "name: C0" in cluster and all(f'"nats-route://{r}"' in cluster for r in routes)
    assert all(s.replicas == 3 for s in hub_streams(FED, 3))
    assert all(s.replicas == 1 for s in hub_streams(FED))
    leaf = partner_conf(FED, "P1", hub_leaf=["h1:7422", "h2:7422"], store_dir="/s")
    url = f"nats-leaf://leaf_P1:{FED.pw('P1/leaf')}@"
    assert f'urls: ["{url}h1:7422", "{url}h2:7422"]' in leaf


def test_nats_server_accepts_the_configs(nats_server_bin: str, tmp_path: Path) -> None:
    routes = ["127.0.0.1:6222", "127.0.0.1:6223"]
    confs = {
        "hub": hub_conf(FED, store_dir=str(tmp_path / "h"), leaf_listen="127.0.0.1:-1"),
        "hub-2": hub_conf(
            FED,
            store_dir=str(tmp_path / "h2"),
            leaf_listen="127.0.0.1:-1",
            cluster=HubCluster("C0-2", routes[1], routes),
        ),
        "p2": partner_conf(
            FED,
            "P2",
            hub_leaf="127.0.0.1:7422",
            store_dir=str(tmp_path / "p"),
            ignore_discovered=True,
        ),
    }
    for name, text in confs.items():
        path = tmp_path / f"{name}.conf"
        path.write_text(text)
        out = subprocess.run(
            [nats_server_bin, "-t", "-c", str(path)], capture_output=True, text=True, timeout=10
        )
        assert out.returncode == 0, f"{name}: {out.stdout}{out.stderr}"


def test_free_ports_are_never_handed_out_twice_and_avoid_the_ephemeral_range() -> None:
    """A hub cluster names its client, leaf and route ports in its configs before any server
    binds them: the kernel hands the same free port to consecutive ``bind(0)`` calls, and
    to a server listening on a random port, so ``free_port`` must do neither."""
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    span = _below_ephemeral()
    if span is not None:
        assert all(p in span for p in ports)
