"""The ``mead`` command: every subcommand's arguments, and what each one calls."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from mead.errors import MeadError

DESCRIPTION = """\
MEAD: federated coalition air-defence early warning.

Simulation (no server needed):
  run          simulate a scenario twice on the same truth and plots (alliance sharing
               on, then national-only), print the summary and write the report to --out
  replay       serve the operator's map over a recorded run (mead run --out DIR)
  export       write what a node held at a time of a recorded run as GeoJSON (--geojson)
  check        validate a scenario file and the policies it names, without running it
  campaign     run a scenario over many seeds in parallel on Dask; per class and area the
               mean and 95 % interval of warning time, efficiency, warned (Parquet, report)
  whatif       a partner joins, a radar goes down or a partner leaves: change in covered
               area per layer and in warnings per class and area (campaign on both)
  coverage     maps of what the alliance, each partner and nobody (gaps) sees per altitude
               layer: PNG, GeoJSON, km² per layer
  track        score the local tracker on a recorded multi-target scenario (.npz)
  asterix      decode an ASTERIX recording (.pcap or raw); with --site, track its plots
  adsb screen  flag implausible reports (jumps, spoofing) in an ADS-B recording (.csv or CAT021)

Live federation over NATS (see docs/operations.md):
  up           start a whole coalition on this machine: one nats-server per site, one
               process per node, the scenario's sensors simulated in real time
  node         run one partner node against its own nats-server
  coordinator  run the coordinator (fusion, assessment, alerts) against the hub
  keygen       make a node's Ed25519 key pair
  natsconf     render the nats-server configs of a federation
  disconnect   close a partner's leaf link at the hub (after it left)
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MeadError as e:
        print(f"mead: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mead", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Any, help: str, description: str) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
        c.set_defaults(func=func)
        return c

    r = command(
        "run",
        _cmd_run,
        "run a scenario: alliance vs national-only, with a report",
        "Simulate SCENARIO (truth, radars, trackers, sharing, fusion, threat assessment) "
        "twice on the same plots — alliance and national-only — print the summary and "
        "write events.jsonl.gz, truth.jsonl, summary.json, plots and report.md into --out.",
    )
    r.add_argument("scenario", type=Path, help="scenario YAML, e.g. scenarios/reference.yaml")
    r.add_argument("--out", type=Path, default=Path("out"), help="report folder (default out/)")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.add_argument(
        "--jobs", type=int, default=2, help="worker processes for the two runs (default 2)"
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="do not record the replay (out/replay/*.npz, for `mead replay`)",
    )

    rp = command(
        "replay",
        _cmd_replay,
        "serve the map over a recorded run (mead run --out DIR)",
        "Serve the operator's map over the runs recorded in DIR/replay/ by `mead run --out "
        "DIR`: play, pause, speed 1x-600x, a time slider and a node selector (alliance and "
        "national-only runs). Runs until Ctrl-C.",
    )
    rp.add_argument("dir", type=Path, help="a run's output folder, e.g. out/reference")
    rp.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    rp.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    rp.add_argument(
        "--token", default=None, help="token the API requires (default: $MEAD_WEB_TOKEN)"
    )

    ex = command(
        "export",
        _cmd_export,
        "write a recorded run's picture, areas, impact regions and coverage as GeoJSON",
        "Read the replay recorded in DIR by `mead run --out DIR` and write, for one node at "
        "one time, its tracks, the defended areas on its map, the impact regions of the "
        "alerts it held and the run's radar coverage as one GeoJSON FeatureCollection "
        "(RFC 7946; QGIS and other GIS tools open it).",
    )
    ex.add_argument("dir", type=Path, help="a run's output folder, e.g. out/small")
    ex.add_argument("--geojson", action="store_true", required=True, help="write GeoJSON")
    ex.add_argument("--at", type=float, default=None,
                    help="seconds after the run's first cycle (default: its end)")  # fmt: skip
    ex.add_argument("--run", default="alliance", help="alliance (default) or national")
    ex.add_argument("--node", default=None, help="whose picture (default: the coordinator)")
    ex.add_argument(
        "--out", type=Path, default=None, help="file (default DIR/export/RUN-NODE-AT.geojson)"
    )

    c = command(
        "check",
        _cmd_check,
        "validate a scenario file and its policies",
        "Load SCENARIO and every policy it names; print a one-line digest, or the first "
        "error naming the file and field.",
    )
    c.add_argument("scenario", type=Path)

    cp = command(
        "campaign",
        _cmd_campaign,
        "many seeds on a Dask cluster: aggregates per class and area (Parquet + report)",
        "Run SCENARIO once per seed (alliance and national-only, as `mead run`) in parallel on "
        "a Dask cluster — a LocalCluster of --jobs worker processes by default, or the "
        "scheduler at --scheduler — and write seeds.parquet, aggregate.parquet, "
        "campaign.json, plots, report.md and report.html into --out.",
    )
    cp.add_argument("scenario", type=Path)
    cp.add_argument("--seeds", default="1-20", help="e.g. 1-20 or 2024,7 (default 1-20)")
    cp.add_argument("--out", type=Path, default=Path("out/campaign"), help="default out/campaign")
    cp.add_argument("--jobs", type=int, default=2, help="local worker processes (default 2)")
    cp.add_argument(
        "--scheduler",
        default=None,
        help="address of a running Dask scheduler, e.g. tcp://host:8786 (its workers must "
        "read the scenario at the same path)",
    )
    cp.add_argument("--no-progress", action="store_true", help="no progress bar")

    w = command(
        "whatif",
        _cmd_whatif,
        "compare SCENARIO with a variant: covered km² per layer, warnings per area",
        "Build a variant of SCENARIO with one change (--add-partner FILE, --remove-radar ID "
        "or --remove-partner NAME), compute both coverages and run both as campaigns over "
        "--seeds on Dask; print and write (--out/whatif.json, base/ and variant/) the change "
        "in covered and gap km² per layer and in warned threats and warning time per class "
        "and defended area.",
    )
    w.add_argument("scenario", type=Path)
    change = w.add_mutually_exclusive_group(required=True)
    change.add_argument("--add-partner", type=Path, help="YAML of one partners[] entry")
    change.add_argument("--remove-radar", help="sensor id")
    change.add_argument("--remove-partner", help="partner name")
    w.add_argument("--seeds", default="1-5", help="e.g. 1-5 (default 1-5)")
    w.add_argument("--out", type=Path, default=Path("out/whatif"), help="default out/whatif")
    w.add_argument("--jobs", type=int, default=2, help="local worker processes (default 2)")
    w.add_argument("--scheduler", default=None, help="a running Dask scheduler's address")
    w.add_argument("--cell-km", type=float, default=5.0, help="coverage grid (default 5 km)")
    w.add_argument("--threat", default="drone", help="coverage class (default drone)")
    w.add_argument("--no-progress", action="store_true", help="no progress bar")

    cv = command(
        "coverage",
        _cmd_coverage,
        "coverage maps per altitude layer: alliance, partners, gaps (PNG, GeoJSON, km²)",
        "Compute where SCENARIO's radars detect a threat class (its mean RCS) with single-look "
        "Pd >= --pd-min at each layer above the ground: 4/3-earth horizon, instrumented range, "
        "sector and elevation limits, radar equation, and terrain from the scenario's dem_dir "
        "(SRTM .hgt). Writes coverage.json, coverage.geojson and coverage_<layer>.png into "
        "--out and prints km² per layer.",
    )
    cv.add_argument("scenario", type=Path)
    cv.add_argument("--out", type=Path, default=Path("out/coverage"), help="default out/coverage")
    cv.add_argument(
        "--threat",
        default="drone",
        choices=["drone", "cruise", "ballistic", "rocket", "aircraft"],
        help="class whose default mean RCS is used (default drone)",
    )
    cv.add_argument("--rcs-m2", type=float, default=None, help="RCS instead of the class's")
    cv.add_argument("--pd-min", type=float, default=0.5, help="covered from this Pd (0.5)")
    cv.add_argument("--cell-km", type=float, default=5.0, help="grid cell size (default 5 km)")
    cv.add_argument(
        "--layers",
        default=None,
        help="heights above ground, m, comma-separated (default 50,300,1000,5000,10000,100000)",
    )
    cv.add_argument("--json", action="store_true", help="print coverage.json instead of a table")

    t = command(
        "track",
        _cmd_track,
        "score the local tracker on a recorded scenario (.npz), print JSON",
        "Run MEAD's local tracker on the plots of a recorded multi-target scenario (format: "
        "/work/shared/data/mtt/FORMAT.md) and print GOSPA (mean over all scans and the last "
        "20), tracks vs truths at the last scan, time per scan and plots per second, as JSON.",
    )
    t.add_argument("file", type=Path, help="recording, e.g. mtt_N100_s1.npz")

    a = command(
        "asterix",
        _cmd_asterix,
        "decode an ASTERIX recording (.pcap or raw .ast); with --site, track its plots",
        "Print blocks and records per category and every corrupt block with its byte "
        "offset (docs/interop.md). With --site, the CAT048 plots become scans of a radar "
        "standing there and MEAD's tracker runs over them.",
    )
    a.add_argument("file", type=Path, help="recording, e.g. cat_034_048.pcap")
    a.add_argument("--site", help="radar site 'lat_deg,lon_deg,alt_m' (ASTERIX does not carry it)")
    a.add_argument("--radar", help="'SAC/SIC' of the radar to track (default: most plots)")
    a.add_argument("--cat062-edition", choices=["1.18", "0.17"], default="1.18",
                   help="CAT062 edition of the recording (default 1.18)")  # fmt: skip
    a.add_argument("--json", action="store_true", help="print JSON")

    ad = command(
        "adsb",
        _cmd_adsb,
        "ADS-B recordings: 'mead adsb screen FILE' (.csv or ASTERIX CAT021) flags "
        "implausible reports",
        "screen: print, per aircraft, the intervals of implausible reports with the reason: "
        "jumps no aircraft can fly, and positions drifting away from the motion the "
        "aircraft's own reported velocity describes (docs/interop.md).",
    )
    ad.add_argument("action", choices=["screen"])
    ad.add_argument("file", type=Path, help="OpenSky state-vector CSV, or ASTERIX CAT021")
    ad.add_argument("--max-speed-mps", type=float, default=400.0,
                    help="a jump is faster than this over ground (default 400)")  # fmt: skip
    ad.add_argument("--window-s", type=float, default=300.0,
                    help="span over which positions are compared with the reported "
                         "velocity's integral (default 300)")  # fmt: skip
    ad.add_argument("--json", action="store_true", help="print JSON")

    for role in ("node", "coordinator"):
        what = "a partner node" if role == "node" else "the coordinator"
        n = command(
            role,
            _cmd_node,
            f"run {what} live over NATS",
            f"Run {what} from a node config YAML (see docs/operations.md) until its "
            "duration ends or SIGTERM.",
        )
        n.add_argument("config", type=Path, help="node config YAML")
        n.add_argument(
            "--events",
            type=Path,
            default=None,
            help="append JSON-line events here (default: stdout)",
        )
        n.set_defaults(role="coordinator" if role == "coordinator" else "partner")
        n.add_argument(
            "--cot",
            action="append",
            default=[],
            metavar="URL",
            help="also send what the node holds as Cursor-on-Target (TAK protocol v1) to "
            "udp://239.2.3.1:6969, udp://HOST:PORT or tcp://HOST:PORT; repeatable (TLS: "
            "the config's cot field)",
        )
        if role == "coordinator":
            n.add_argument(
                "--standby",
                action="store_true",
                help="run as a standby: shadow the active coordinator, take over when its "
                "lease lapses (docs/operations.md)",
            )
        _web_args(n)

    u = command(
        "up",
        _cmd_up,
        "run a whole federation on this machine over NATS",
        "Start one nats-server per site (hub + one per partner) and one process per node on "
        "loopback, run SCENARIO's simulated sensors in accelerated real time, then stop "
        "everything.",
    )
    u.add_argument("scenario", type=Path)
    u.add_argument(
        "--duration", type=float, default=None, help="scenario seconds to run (default: all)"
    )
    u.add_argument("--speed", type=float, default=1.0, help="scenario s per wall s")
    u.add_argument(
        "--from",
        dest="from_s",
        type=float,
        default=0.0,
        metavar="S",
        help="begin at scenario second S, with what is in the air then (default 0; every "
        "node starts cold: the raid joined in progress)",
    )
    u.add_argument(
        "--ready-timeout",
        type=float,
        default=180.0,
        metavar="S",
        help="wall s every node may take to set up before t=0 (default 180; a large "
        "scenario's partners simulate their radars first)",
    )
    u.add_argument(
        "--workdir",
        type=Path,
        default=Path("out/live"),
        help="configs, keys, logs, stores (default out/live)",
    )
    u.add_argument("--json", action="store_true", help="print the summary as JSON")
    u.add_argument(
        "--web",
        action="store_true",
        help="every node serves its live map on a port of 127.0.0.1 (listed on start)",
    )
    u.add_argument(
        "--standby",
        action="store_true",
        help="also run a standby coordinator that takes over when the active one stops",
    )
    u.add_argument(
        "--standby-after",
        type=float,
        default=0.0,
        metavar="S",
        help="start the standby S wall seconds after the other nodes (a standby started "
        "mid-raid; needs --standby)",
    )
    u.add_argument(
        "--kill-active-at",
        type=float,
        default=None,
        metavar="S",
        help="failover drill: SIGKILL the active coordinator S scenario seconds in "
        "(needs --standby)",
    )
    u.add_argument(
        "--kill-hub-at",
        type=float,
        default=None,
        metavar="S",
        help="drill: SIGKILL the hub's (first) nats-server S scenario seconds in, restart "
        "it --hub-down wall seconds later",
    )
    u.add_argument(
        "--hub-down",
        type=float,
        default=5.0,
        metavar="WALL_S",
        help="wall seconds the killed hub server stays down (inf: for good; needs "
        "--hub-servers 3; default 5)",
    )
    u.add_argument(
        "--hub-servers",
        type=int,
        default=1,
        metavar="N",
        help="run the hub as a cluster of N nats-servers (3: one may be lost) with its "
        "streams replicated on each; a --standby works through the second; "
        "--kill-hub-at kills the first (default 1)",
    )
    u.add_argument(
        "--kill-hub-server",
        type=int,
        default=1,
        metavar="I",
        help="with --hub-servers: the hub server --kill-hub-at kills (1: the active "
        "coordinator's, 2: the standby's; default 1)",
    )
    u.add_argument(
        "--node-config",
        action="append",
        default=[],
        metavar="NODE=FILE",
        help="add the fields of YAML FILE (e.g. asterix_plots_out, asterix_out, cot) to "
        "NODE's generated config; repeatable",
    )

    k = command(
        "keygen",
        _cmd_keygen,
        "make a node's Ed25519 key pair (and its TLS certificates)",
        "Write NAME.key (private, mode 600) into --out and print the registry line "
        "'NAME: <public key>' to give the other nodes. With --ca DIR and --scenario, also "
        "issue NAME's TLS certificates from the federation CA in DIR into --out/tls (the "
        "site's certificate and one per account user; an existing NAME.key is kept, so "
        "this also rotates certificates). Without NAME, --ca DIR makes the federation CA.",
    )
    k.add_argument("name", nargs="?", help="the node's pseudonym (omit with --ca: make the CA)")
    k.add_argument("--out", type=Path, default=Path("keys"))
    k.add_argument(
        "--ca", type=Path, default=None, help="federation CA directory (ca.pem, ca.key)"
    )
    k.add_argument(
        "--scenario", type=Path, default=None, help="the federation (who is coordinator, partner)"
    )
    k.add_argument(
        "--host",
        action="append",
        default=[],
        help="DNS name or IP the site's servers are reached at (repeat; default localhost)",
    )

    dc = command(
        "disconnect",
        _cmd_disconnect,
        "close a partner's leaf link at the hub (after it left)",
        "Close every leafnode link bound to PARTNER_<PARTNER> on the hub at --hub, as the "
        "hub's system-account user (its admin certificate). nats-server re-checks clients "
        "on a config reload but not leaf links: run this after reloading a hub config "
        "without PARTNER; the partner's reconnection is then refused.",
    )
    dc.add_argument("partner")
    dc.add_argument("--hub", required=True, help="the hub's client URL, e.g. tls://127.0.0.1:4222")
    dc.add_argument("--ca", required=True, help="CA bundle (ca.pem)")
    dc.add_argument("--cert", required=True, help="admin certificate (admin.<C>.pem)")
    dc.add_argument("--key", required=True, help="its key (admin.<C>.key)")

    nc = command(
        "natsconf",
        _cmd_natsconf,
        "render the nats-server configs of a federation",
        "Write hub.conf and one <partner>.conf per partner of SCENARIO into --out. With "
        "--tls-dir, every listener and leaf link is mTLS with the certificates of "
        "`mead keygen --ca` found in that directory on each site; otherwise passwords are "
        "derived from --deploy-key (development only).",
    )
    nc.add_argument("scenario", type=Path)
    nc.add_argument(
        "--deploy-key",
        type=Path,
        default=None,
        help="file with the deployment secret (>= 16 bytes; e.g. 32 random bytes)",
    )
    nc.add_argument(
        "--tls-dir",
        default=None,
        help="directory of each site's ca.pem, <site>.pem and <site>.key (e.g. /etc/mead/tls)",
    )
    nc.add_argument(
        "--hub-leaf",
        required=True,
        action="append",
        help="host:port partners reach the hub's leafnode listener at (the WAN address); "
        "with --hub-route, once per hub server, in the same order",
    )
    nc.add_argument(
        "--hub-route",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="run the hub as a cluster: the route address of each of its servers (3, so "
        "that one may be lost); writes hub-1.conf … hub-N.conf",
    )
    nc.add_argument("--route-listen", default="0.0.0.0:6222", help="hub route listener")
    nc.add_argument("--leaf-listen", default="0.0.0.0:7422", help="hub leafnode listener")
    nc.add_argument("--listen", default="127.0.0.1:4222", help="client listener of each server")
    nc.add_argument("--store", default="/var/lib/mead/jetstream", help="JetStream store dir")
    nc.add_argument("--out", type=Path, default=Path("natsconf"))
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from mead.metrics.evaluation import Scorer, format_summary, run_scored, summarize
    from mead.metrics.report import write_report
    from mead.runtime.simulation import MODES, prepare
    from mead.runtime.wiring import policies
    from mead.scenario import load_scenario
    from mead.server.overlays import coverage_layers
    from mead.server.replay import recording, write_replay

    t0 = time.perf_counter()
    sc = load_scenario(args.scenario)
    policies(sc, args.scenario)
    seed = sc.seed if args.seed is None else args.seed
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    if not args.json:
        print(f"preparing {sc.name!r} (seed {seed}): truth and radar plots…", file=sys.stderr)
    world = prepare(sc, seed, args.scenario, jobs=args.jobs)
    observer = recording(Scorer) if args.record else Scorer
    results = run_scored(world, progress=progress, jobs=args.jobs, observer=observer)
    recorded = {}
    if args.record:
        for m in MODES:
            results[m].observed, recorded[m] = results[m].observed
    summary = summarize(world, results, time.perf_counter() - t0)
    layers = coverage_layers(sc, args.scenario) if recorded else {}
    with ThreadPoolExecutor(max(1, len(recorded))) as pool:  # zlib works outside the GIL
        replays = [
            pool.submit(write_replay, args.out, sc, m, recorded[m], results[m].events, layers)
            for m in recorded
        ]
        files = write_report(args.out, world, results, summary)
        files += [f.result() for f in replays]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        print(f"report: {', '.join(str(f) for f in files)}")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    import os

    from mead.server.app import TOKEN_ENV, replay_app
    from mead.server.replay import Replay
    from mead.server.serve import WebServer

    token = args.token or os.environ.get(TOKEN_ENV) or None
    replay = Replay(args.dir)
    server = WebServer(replay_app(replay, token), args.host, args.port, token).start()
    runs = ", ".join(f"{r.run} ({len(r.nodes)} nodes)" for r in replay.runs.values())
    print(f"replay of {replay.scenario}: {runs}")
    print(f"map: {server.url}  (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from mead.server.export import export_geojson

    fc = export_geojson(args.dir, args.at, args.run, args.node)
    m = fc["mead"]
    path = args.out or args.dir / "export" / f"{m['run']}-{m['node']}-{m['at_s']:.0f}.geojson"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fc, separators=(",", ":")))
    layers = {k: sum(f["properties"]["layer"] == k for f in fc["features"]) for k in m["layers"]}
    print(f"{path}: " + ", ".join(f"{v} {k}" for k, v in layers.items()), flush=True)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from mead.runtime.wiring import policies
    from mead.scenario import load_scenario

    sc = load_scenario(args.scenario)
    policies(sc, args.scenario)
    n_sensors = sum(len(p.sensors) for p in sc.partners)
    n_threats = sum(r.count for r in sc.raids)
    print(
        f"{args.scenario}: ok — {len(sc.partners)} partners, {n_sensors} sensors, "
        f"{len(sc.defended_areas)} defended areas, {n_threats} threats in "
        f"{len(sc.raids)} raids, {sc.civil.flights} civil flights, "
        f"{sc.duration_s / 3600:.1f} h"
    )
    return 0


def _cmd_campaign(args: argparse.Namespace) -> int:
    from mead.metrics.campaign import aggregate, parse_seeds, run_campaign, seed_rows
    from mead.metrics.campaign_report import format_aggregate, write_campaign
    from mead.runtime.wiring import policies
    from mead.scenario import load_scenario

    sc = load_scenario(args.scenario)
    policies(sc, args.scenario)
    seeds = parse_seeds(args.seeds)
    t0 = time.perf_counter()
    progress = not args.no_progress and sys.stderr.isatty()
    summaries = run_campaign(sc, args.scenario.resolve(), seeds, jobs=args.jobs,
                             scheduler=args.scheduler, progress=progress)  # fmt: skip
    rows = [r for s in summaries for r in seed_rows(s)]
    agg = aggregate(rows)
    files = write_campaign(args.out, sc.name, seeds, rows, agg)
    print(format_aggregate(sc.name, seeds, agg))
    print(f"{len(seeds)} seeds in {time.perf_counter() - t0:.0f} s; written: "
          f"{', '.join(str(f) for f in files)}")  # fmt: skip
    return 0


def _cmd_whatif(args: argparse.Namespace) -> int:
    from mead.coverage import compute
    from mead.coverage.maps import summary as coverage_summary
    from mead.metrics.campaign import aggregate, parse_seeds, run_campaign, seed_rows
    from mead.metrics.campaign_report import write_campaign
    from mead.metrics.whatif import compare, format_compare, load_partner, variant
    from mead.runtime.wiring import policies
    from mead.scenario import load_scenario

    path = args.scenario.resolve()
    base = load_scenario(args.scenario)
    added = load_partner(args.add_partner) if args.add_partner else None
    var = variant(base, add_partner=added, remove_radar=args.remove_radar,
                  remove_partner=args.remove_partner)  # fmt: skip
    what = (f"add partner {added.name}" if added else f"remove radar {args.remove_radar}"
            if args.remove_radar else f"remove partner {args.remove_partner}")  # fmt: skip
    seeds = parse_seeds(args.seeds)
    progress = not args.no_progress and sys.stderr.isatty()
    covs, aggs = [], []
    watch = var if added else base  # the larger of the two sets grid and region
    for name, sc in (("base", base), ("variant", var)):
        policies(sc, path)
        cov = compute(sc, scenario_path=path, threat=args.threat, cell_km=args.cell_km,
                      watch=watch)  # fmt: skip
        covs.append(coverage_summary(cov, sc))
        summaries = run_campaign(sc, path, seeds, jobs=args.jobs, scheduler=args.scheduler,
                                 progress=progress)  # fmt: skip
        rows = [r for s in summaries for r in seed_rows(s)]
        aggs.append(aggregate(rows))
        write_campaign(args.out / name, sc.name, seeds, rows, aggs[-1])
    result = compare(covs[0], covs[1], aggs[0], aggs[1]) | {"what": what, "seeds": seeds}
    (args.out / "whatif.json").write_text(json.dumps(result, indent=2) + "\n")
    print(format_compare(result, what))
    print(f"written: {args.out / 'whatif.json'}, {args.out / 'base'}/, {args.out / 'variant'}/")
    return 0


def _cmd_coverage(args: argparse.Namespace) -> int:
    from mead.coverage import LAYERS_M, compute
    from mead.coverage.maps import format_table, summary, write_coverage
    from mead.runtime.wiring import policies
    from mead.scenario import load_scenario

    sc = load_scenario(args.scenario)
    policies(sc, args.scenario)
    n_layers = args.layers.count(",") + 1 if args.layers else 0
    layers = tuple(_floats(args.layers, n_layers, "--layers")) if args.layers else LAYERS_M
    cov = compute(
        sc,
        scenario_path=args.scenario,
        layers_m=layers,
        threat=args.threat,
        rcs_m2=args.rcs_m2,
        pd_min=args.pd_min,
        cell_km=args.cell_km,
    )
    files = write_coverage(args.out, cov, sc)
    s = summary(cov, sc)
    print(json.dumps(s, indent=2) if args.json else format_table(s))
    if not args.json:
        print(f"written: {', '.join(str(f) for f in files)}")
    return 0


def _cmd_track(args: argparse.Namespace) -> int:
    from mead.metrics.trackeval import track_file

    print(json.dumps(track_file(args.file), indent=2))
    return 0


def _floats(text: str, n: int, option: str, sep: str = ",") -> list[float]:
    """``n`` numbers separated by ``sep`` from a command-line option, or a ConfigError."""
    from mead.errors import ConfigError

    try:
        vals = [float(v) for v in text.split(sep)]
    except ValueError:
        vals = []
    if len(vals) != n or not all(abs(v) < 1e7 for v in vals):
        raise ConfigError(option, f"expected {n} numbers separated by {sep!r} (got {text!r})")
    return vals


def _cmd_asterix(args: argparse.Namespace) -> int:
    from mead.errors import ConfigError
    from mead.sensors import asterix

    if not args.file.is_file():
        raise ConfigError(str(args.file), "no such file (expected a .pcap or raw ASTERIX file)")
    out, plots = asterix.summarise(args.file, args.cat062_edition)
    if args.site:
        import numpy as np

        from mead.tracking.tracker import Tracker

        lat, lon, alt = _floats(args.site, 3, "--site")
        if args.radar:
            sac, sic = _floats(args.radar, 2, "--radar", "/")
            radar = (int(sac), int(sic))
        else:  # the radar with the most plots: one site cannot stand for several radars
            pairs = list(zip(plots.sac, plots.sic, strict=True)) or [(-1, -1)]
            radar = max(set(pairs), key=pairs.count)
        sigma = np.array([75.0, 0.0025, 0.01])  # m, rad, rad: a typical secondary radar
        scans = asterix.plots2scans(plots, "asterix", "local", (lat, lon, alt), sigma,
                                    sac_sic=radar)  # fmt: skip
        tracker = Tracker("local")
        for scan in scans:
            tracker.step(scan)
        out |= {
            "radar": f"{radar[0]}/{radar[1]}",
            "scans": len(scans),
            "plots": int(sum(len(s.z) for s in scans)),
            "tracks": tracker.n_tracks,
            "confirmed": tracker.n_confirmed,
        }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
    return 0


def _cmd_adsb(args: argparse.Namespace) -> int:
    import dataclasses

    from mead.errors import ConfigError
    from mead.sensors.adsb_drift import DriftLimits
    from mead.sensors.adsb_replay import read_adsb_csv, screen

    try:
        limits = DriftLimits(window_s=args.window_s)
    except ValueError as bad:
        raise ConfigError("--window-s", str(bad)) from None
    if str(args.file).lower().endswith(".csv"):
        rec = read_adsb_csv(args.file)
        errors: list[str] = []
    else:  # ASTERIX CAT021 (.ast, .pcap, ...)
        from mead.sensors.adsb_asterix import read_cat021

        rec, errs = read_cat021(args.file)
        errors = [str(e) for e in errs]
    flags = screen(rec, max_speed_mps=args.max_speed_mps, drift=limits)
    per: dict[str, list[dict[str, Any]]] = {}
    for f in flags:
        per.setdefault(f.icao, []).append(dataclasses.asdict(f))
    out = {"file": str(args.file), "reports": len(rec),
           "aircraft": len(set(rec.icao.tolist())), "flagged": per}  # fmt: skip
    if errors:
        out["errors"] = errors
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['reports']} reports of {out['aircraft']} aircraft; {len(flags)} flagged")
        for e in errors:
            print(f"  skipped: {e}")
        for f in flags:
            print(f"  {f.icao} {f.callsign:8} {f.t0:.0f}-{f.t1:.0f}  {f.reason}")
    return 0


def _cmd_node(args: argparse.Namespace) -> int:
    from mead.events import Event, encode_line
    from mead.runtime.live import load_node_config, run_node

    cfg = load_node_config(args.config)
    if args.cot:
        import msgspec

        from mead.errors import ConfigError
        from mead.interop.tak import CotTarget

        try:
            extra = [CotTarget(url=u) for u in args.cot]
        except ValueError as e:
            raise ConfigError("--cot", str(e)) from None
        cfg = msgspec.structs.replace(cfg, cot=[*cfg.cot, *extra])
    if getattr(args, "standby", False):
        import msgspec

        cfg = msgspec.structs.replace(
            cfg, failover=msgspec.structs.replace(cfg.failover, standby=True)
        )
    web = None
    if args.web is not None:
        from mead.server.nodemap import WebOptions

        web = WebOptions.from_args(args.web, args.web_host, args.web_token)
        from mead.server.app import check_bind

        check_bind(web.host, web.token)
    stopping = {"flag": False}

    def on_signal(*_: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    out: IO[bytes] = open(args.events, "ab") if args.events else sys.stdout.buffer
    try:

        def emit(ev: Event) -> None:
            out.write(encode_line(ev))
            out.flush()

        path = args.config.resolve()
        run_node(cfg, path.parent, args.role, emit, lambda: stopping["flag"], web, path)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from mead.federation.identity import Identity
    from mead.federation.pki import CA_KEY, CertAuthority
    from mead.federation.private import private_dir, write_private

    if args.name is None:
        if args.ca is None:
            raise MeadError("keygen needs NAME, or --ca DIR to make the federation CA")
        if (args.ca / CA_KEY).exists():
            raise MeadError(f"{args.ca / CA_KEY} exists; refusing to overwrite the CA key")
        CertAuthority.generate().save(args.ca)
        print(f"federation CA: {args.ca / 'ca.pem'} (to every site); key: {args.ca / CA_KEY}")
        return 0
    ident = Identity.generate(args.name)
    issue = _cert_issuer(args, ident.name) if args.ca is not None else None  # checks first
    path = private_dir(args.out) / f"{ident.name}.key"
    try:
        write_private(path, ident.secret_hex + "\n", exclusive=True)
        print(f"{ident.name}: {ident.public_hex}")
    except FileExistsError:
        if args.ca is None:
            raise MeadError(f"{path} exists; refusing to overwrite a private key") from None
        print(f"{path} exists: kept; issuing new certificates", file=sys.stderr)
    if issue is not None:
        issue()
    return 0


def _cert_issuer(args: argparse.Namespace, name: str) -> Callable[[], None]:
    """What issues NAME's site and user certificates from the CA in --ca into --out/tls
    (the CA and the scenario are checked now, before anything is written)."""
    from mead.federation.natsconf import cert_name, site_users
    from mead.federation.pki import CertAuthority, write_identity
    from mead.runtime.up import federation
    from mead.runtime.wiring import policies
    from mead.scenario import load_scenario

    if args.scenario is None:
        raise MeadError("--ca needs --scenario: it says which accounts NAME's site holds")
    ca = CertAuthority.load(args.ca)
    sc = load_scenario(args.scenario)
    fed = federation(sc, policies(sc, args.scenario), b"-" * 16)
    try:
        users = site_users(fed, name)
    except ValueError as e:
        raise MeadError(f"{args.scenario}: {e}") from None
    out = args.out / "tls"

    def issue() -> None:
        write_identity(ca, name, out, hosts=args.host or ["localhost", "127.0.0.1"])
        for user in users.values():
            write_identity(ca, cert_name(name, user), out)
        names = [name, *(cert_name(name, u) for u in users.values())]
        print(f"certificates in {out}: {', '.join(f'{n}.pem' for n in names)} (+ .key, ca.pem)")

    return issue


def _cmd_natsconf(args: argparse.Namespace) -> int:
    from mead.federation.natsconf import HubCluster, hub_conf, hub_server_name, partner_conf
    from mead.federation.pki import CA_CERT, TlsFiles
    from mead.federation.private import private_dir, write_private
    from mead.runtime.up import federation
    from mead.runtime.wiring import policies
    from mead.scenario import load_scenario

    if args.deploy_key is None and args.tls_dir is None:
        raise MeadError("natsconf needs --tls-dir (mTLS) or --deploy-key (passwords)")
    sc = load_scenario(args.scenario)
    key = args.deploy_key.read_bytes().strip() if args.deploy_key else os.urandom(32)
    fed = federation(sc, policies(sc, args.scenario), key)

    def tls(site: str) -> TlsFiles | None:
        if args.tls_dir is None:
            return None
        d = args.tls_dir.rstrip("/")
        return TlsFiles(f"{d}/{CA_CERT}", f"{d}/{site}.pem", f"{d}/{site}.key")

    routes, leaves = args.hub_route, args.hub_leaf
    if len(leaves) != max(1, len(routes)):
        raise MeadError(
            f"give --hub-leaf once per hub server ({max(1, len(routes))}; got {len(leaves)})"
        )
    if len(routes) == 2:
        raise MeadError("a hub cluster of 2 servers loses its quorum with either: give 3")
    c = fed.coordinator
    servers: list[HubCluster | None] = [
        HubCluster(hub_server_name(c, i), args.route_listen, routes) for i in range(len(routes))
    ]
    private_dir(args.out)  # configs may hold passwords
    files = {
        f"hub-{i + 1}.conf" if cluster else "hub.conf": hub_conf(
            fed,
            store_dir=args.store,
            leaf_listen=args.leaf_listen,
            advertise=leaf,
            listen=args.listen,
            tls=tls(c),
            cluster=cluster,
        )
        for i, (leaf, cluster) in enumerate(zip(leaves, servers or [None], strict=True))
    }
    for p in fed.partners:
        files[f"{p}.conf"] = partner_conf(
            fed, p, hub_leaf=args.hub_leaf, store_dir=args.store, listen=args.listen, tls=tls(p)
        )
    for name, text in files.items():
        write_private(args.out / name, text)
    print(f"wrote {', '.join(files)} into {args.out}")
    return 0


def _cmd_disconnect(args: argparse.Namespace) -> int:
    from mead.federation.nats import ConnSpec, disconnect_leaves
    from mead.federation.pki import TlsFiles

    spec = ConnSpec(args.hub, tls=TlsFiles(args.ca, args.cert, args.key))
    n = disconnect_leaves(spec, f"PARTNER_{args.partner}")
    print(f"closed {n} leaf link(s) of {args.partner}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    import msgspec

    from mead.errors import ConfigError
    from mead.runtime.up import check_node_extra, format_up, up

    extra: dict[str, dict[str, Any]] = {}
    for item in args.node_config:
        node, sep, file = item.partition("=")
        if not sep or not node or not file:
            raise ConfigError("--node-config", f"expected NODE=FILE (got {item!r})")
        try:
            fields = msgspec.yaml.decode(Path(file).read_bytes())
        except (OSError, msgspec.DecodeError) as e:
            raise ConfigError(file, f"--node-config {node}: {e}") from None
        if not isinstance(fields, dict):
            raise ConfigError(file, "--node-config: expected a mapping of node config fields")
        check_node_extra(node, fields, file)
        extra.setdefault(node, {}).update(fields)
    summary = up(
        args.scenario,
        args.workdir,
        duration_s=args.duration,
        speed=args.speed,
        from_s=args.from_s,
        ready_timeout_s=args.ready_timeout,
        web=args.web,
        standby=args.standby,
        standby_after_s=args.standby_after,
        kill_active_at_s=args.kill_active_at,
        kill_hub_at_s=args.kill_hub_at,
        hub_down_s=args.hub_down,
        hub_servers=args.hub_servers,
        kill_hub_server=args.kill_hub_server,
        node_extra=extra,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_up(summary))
    return 0 if summary["ok"] else 1


def _web_args(p: argparse.ArgumentParser) -> None:
    """--web PORT, --web-host and --web-token: the node's live map (mead.server)."""
    p.add_argument(
        "--web",
        type=int,
        default=None,
        metavar="PORT",
        help="also serve the node's live map on this port (0: any free one)",
    )
    p.add_argument(
        "--web-host", default="127.0.0.1", help="address the map listens on (default 127.0.0.1)"
    )
    p.add_argument(
        "--web-token",
        default=None,
        help="token the map's API requires (default: $MEAD_WEB_TOKEN); needed beyond loopback",
    )


if __name__ == "__main__":
    raise SystemExit(main())
