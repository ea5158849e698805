"""Coordinator failover drills over real nats-servers: how soon a standby takes over, and
whether any alert is lost or duplicated on the way.

Run as ``python -m benchmarks.bench_failover [--json] [--speed 8] [--kill-at 110 130 150]
[--hub-down 5] [--no-coordinator] [--no-hub] [--no-site] [--cluster-drills site 1 2 3]
[--standby-after S ...] [--scenario tests/federation/data/equivalence.yaml] [--duration S]``.

Each drill is ``mead up SCENARIO --standby --kill-active-at S``: the hub and one
nats-server per partner on 127.0.0.1, one process per node, and a second coordinator
instance in standby; the active coordinator's process is SIGKILLed ``S`` scenario seconds
in. Figures per drill (:func:`mead.runtime.up.failover_figures`): wall seconds from the kill
until the standby is active, the alert states sent in all (by the killed active before it
died and by the standby), how many of them no partner received (lost) or a partner
received twice (duplicated), and what the standby's reconciliation resent and suppressed.
Then the same drills kill the hub's nats-server instead (SIGKILL, restarted ``--hub-down``
wall s later): the figures then say whether alerts stored around the outage still
arrive once. Last, the cluster drills run the hub as three nats-servers
(``--hub-servers 3``: the active working through the first, the standby through the
second, the JetStream leaders on the third) and SIGKILL, for good, the active coordinator
and the hub server it works through at once (*site*: the coordinator's whole site lost),
then only the active's server (*server 1*), then only the standby's (*server 2*), then
only the witness (*server 3*, which holds the leaders). ``--standby-after S`` adds
process drills whose standby starts S wall s after the other nodes (*late S s*): it reads
the inboxes' backlog at once and numbers system tracks its own way. Every drill also
counts the threats a partner was warned of under more than one alert id (*2+ ids*).
The takeover time is bounded by the lease: ``lease_ttl_s`` (5 s) after the
last renewal, plus up to one ``renew_s`` (1 s) look, minus the time since that renewal.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._machine import machine
from mead.events import AlertReceived, Event, read_events
from mead.federation.natsserver import require_nats_server, server_version
from mead.metrics.evaluation import attribute_alerts
from mead.runtime.simulation import prepare
from mead.runtime.up import up
from mead.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests" / "federation" / "data" / "equivalence.yaml"


def drill(
    scenario: Path,
    kill_at_s: float,
    speed: float,
    duration_s: float | None,
    hub_down_s: float | None = None,
    cluster: str = "",
    standby_after_s: float = 0.0,
) -> dict[str, Any]:
    """One drill in a throw-away work directory: kill the active coordinator (or, with
    ``hub_down_s``, the hub's server for that long; with ``cluster`` — "site" or "server
    I" — on a hub of three servers, for good, the active and its server, or server I);
    its failover figures and lags."""
    what = cluster or ("coordinator" if hub_down_s is None else "hub")
    what = f"late {standby_after_s:g} s" if standby_after_s else what
    kill_active = cluster == "site" or (not cluster and hub_down_s is None)
    with tempfile.TemporaryDirectory(prefix="mead-failover-") as d:
        s = up(
            scenario,
            Path(d),
            duration_s=duration_s,
            speed=speed,
            standby=True,
            kill_active_at_s=kill_at_s if kill_active else None,
            kill_hub_at_s=kill_at_s if cluster or hub_down_s is not None else None,
            hub_down_s=float("inf") if cluster else hub_down_s or 0.0,
            hub_servers=3 if cluster else 1,
            kill_hub_server=int(cluster.split()[1]) if cluster.startswith("server") else 1,
            standby_after_s=standby_after_s,
        )
        twice = threats_under_several_ids(scenario, Path(d))
    lag = max(v["counters"].get("max_lag_ms", 0) for v in s["nodes"].values())
    row = {"killed": what, "kill_at_s": kill_at_s, "ok": s["ok"], **s["failover"]}
    return row | {"max_lag_ms": lag, "several_ids": twice}


def threats_under_several_ids(scenario: Path, workdir: Path) -> int:
    """Threats some partner was warned of under more than one alert id (from the
    coordinator, attributed to the truth as the summary does): a threat alerted twice."""
    sc = load_scenario(scenario)
    world = prepare(sc, sc.seed, scenario)
    got: list[Event] = [
        e
        for p in sc.partners
        for e in read_events((workdir / f"{p.name}.events.jsonl").read_bytes())
        if isinstance(e, AlertReceived) and e.via == sc.coordinator.name
    ]
    ids: dict[tuple[str, str, str | None], set[str]] = {}
    for e in attribute_alerts(world, got):
        if isinstance(e, AlertReceived):
            ids.setdefault((e.node, e.area, e.truth), set()).add(e.alert_id)
    return sum(len(v) > 1 for v in ids.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=SCENARIO)
    ap.add_argument("--speed", type=float, default=8.0, help="scenario s per wall s")
    ap.add_argument("--kill-at", type=float, nargs="+", default=[110.0, 130.0, 150.0])
    ap.add_argument("--duration", type=float, default=None, help="scenario s per drill")
    ap.add_argument("--hub-down", type=float, default=5.0, help="wall s the hub stays down")
    ap.add_argument("--no-coordinator", action="store_true", help="skip the process drills")
    ap.add_argument("--no-hub", action="store_true", help="skip the hub drills")
    ap.add_argument("--no-site", action="store_true", help="skip the hub-cluster drills")
    ap.add_argument(
        "--cluster-drills",
        nargs="+",
        default=["site", "1", "2", "3"],
        choices=["site", "1", "2", "3"],
        help="which hub-cluster drills: the site, or hub server 1, 2 or 3 alone",
    )
    ap.add_argument(
        "--standby-after",
        type=float,
        nargs="*",
        default=[],
        metavar="S",
        help="also kill the active with a standby started S wall s late (a standby started "
        "mid-raid), at the first --kill-at",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    binary = require_nats_server()
    rows = []
    for k in args.kill_at if not args.no_coordinator else []:
        rows.append(drill(args.scenario, k, args.speed, args.duration))
    for k in args.kill_at if not args.no_hub else []:
        rows.append(drill(args.scenario, k, args.speed, args.duration, args.hub_down))
    kinds = [k if k == "site" else f"server {k}" for k in args.cluster_drills]
    for kind in kinds if not args.no_site else ():
        for k in args.kill_at:
            rows.append(drill(args.scenario, k, args.speed, args.duration, cluster=kind))
    for late in args.standby_after:
        rows.append(drill(args.scenario, args.kill_at[0], args.speed, args.duration,
                          standby_after_s=late))  # fmt: skip
    out = {
        "scenario": str(args.scenario),
        "speed": args.speed,
        "results": rows,
        "machine": machine("nats-py", "msgspec")
        | {"nats_server": ".".join(map(str, server_version(binary)))},
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    m = out["machine"]
    print(
        f"failover drills: {args.scenario.name} at speed {args.speed}; {m['cpu']}, "
        f"{m['cpus_available']} cpus, nats-server {m['nats_server']}, "
        f"nats-py {m['versions']['nats-py']}"
    )
    print(
        f"{'killed':<11} {'kill at s':>9} {'takeover s':>10} {'sent':>5} {'lost':>5} {'dup':>4} "
        f"{'resent':>6} {'suppr':>6} {'max lag ms':>10} {'2+ ids':>6}"
    )
    for r in rows:
        print(
            f"{r['killed']:<11} {r['kill_at_s']:>9.0f} {r['takeover_s']!s:>10} "
            f"{r['sent']:>5} {r['lost']:>5} "
            f"{r['duplicated']:>4} {r['resent']:>6} {r['suppressed']:>6} {r['max_lag_ms']:>10} "
            f"{r['several_ids']:>6}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
