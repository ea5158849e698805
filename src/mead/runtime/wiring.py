"""The one wiring point: a scenario's stages assembled into partner and coordinator nodes.

Simulation (:mod:`mead.runtime.simulation`) and live mode (:mod:`mead.runtime.live`) both
build their nodes here, so a partner runs the same tracker, policy, assessor and alert rules
whichever clock and bus it is given. What differs between the modes comes in as arguments:
the identity, the endpoint (in-process bus or NATS), the opener's clock, the scans.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from mead.engage.fire_control import Effector, FireControl, NoEffector
from mead.engage.planner import Planner, neighbour_owners
from mead.engage.policy import EngagementPolicy, load_engagement_policy
from mead.engage.units import UnitTable
from mead.errors import ConfigError
from mead.events import Emit
from mead.federation.base import Endpoint
from mead.federation.deception import Falsifier
from mead.federation.envelope import Opener
from mead.federation.identity import Identity
from mead.federation.policy import Policy, Releaser, load_policy, validate_recipients
from mead.fusion.siap import SystemTracker
from mead.fusion.trust import DeclaredCoverage
from mead.runtime.node import CoordinatorNode, Observe, PartnerNode, Show, site_table
from mead.scenario.schema import Partner, Scenario
from mead.sensors.adsb import AdsbFeed, AdsbReports
from mead.sensors.base import Scan, ScanFeed
from mead.sensors.health import RadarHealth, SelfReporting, with_feeds
from mead.threat.assessor import Assessor
from mead.tracking.base import TrackSource
from mead.tracking.tracker import Tracker

MAX_MESSAGE_AGE_S = 300.0
"""Envelopes older than this (wire time, s) are rejected as stale, in both modes."""

BIAS_S, BIAS_WINDOW, BIAS_MIN_PAIRINGS = 10.0, 12, 80
"""The coordinator samples partners' registration offsets every ``BIAS_S`` s, pools the
last ``BIAS_WINDOW`` samples (2 min), and judges a partner once it entered that many
pairings with others: one sample of tracks hundreds of kilometres from their radars is off
by up to 30 % on a 2 km offset, three or more pooled are within 12 % (``lying.yaml``, seeds
7, 3, 11)."""


def _ignore(*_: object) -> None:
    return None


def known_nodes(sc: Scenario) -> set[str]:
    """Every node pseudonym of the scenario: the partners and the coordinator."""
    return {p.name for p in sc.partners} | {sc.coordinator.name}


def partner_policy(sc: Scenario, partner: str, path: Path | None) -> Policy:
    """A partner's releasability policy, from the file ``path``; ``None``: the default,
    everything releasable to the coordinator.

    Its recipients must be nodes of the scenario (``ConfigError`` naming the file if not).
    """
    if path is None:
        return Policy.default(partner, sc.coordinator.name)
    pol = load_policy(path)
    validate_recipients(pol, known_nodes(sc), str(path), partner=partner)
    return pol


def policies(
    sc: Scenario, scenario_path: Path | None, national: bool = False
) -> dict[str, Policy]:
    """Every partner's policy (the scenario's ``policy`` files, relative to the scenario
    file); with ``national``, nobody releases anything, and a partner whose ``role`` is
    ``receive_only`` never does."""
    base = scenario_path.parent if scenario_path else Path.cwd()
    return {
        p.name: Policy.nothing(p.name)
        if national or p.role == "receive_only"
        else partner_policy(sc, p.name, base / p.policy if p.policy else None)
        for p in sc.partners
    }


Role = Literal["contributing", "receive_only"]


def role(partner: Partner, policy: Policy) -> Role:
    """A partner's membership: its declared ``role``, else ``receive_only`` when it has no
    sensors (nor system tracks) or its policy releases nothing (no rule), else ``contributing``.

    Either way it receives the coordinator's picture and the warnings for its areas."""
    if partner.role is not None:
        return partner.role
    has = partner.sensors or partner.system_tracks
    return "contributing" if has and policy.rules else "receive_only"


def partner_roles(sc: Scenario, scenario_path: Path | None) -> dict[str, Role]:
    """Every partner's :func:`role` (its policy loaded from the scenario's files)."""
    pols = policies(sc, scenario_path)
    return {p.name: role(p, pols[p.name]) for p in sc.partners}


def engagement_policies(sc: Scenario, scenario_path: Path | None) -> dict[str, EngagementPolicy]:
    """Every partner's engagement policy (the scenario's ``engagement_policy`` files,
    relative to the scenario file; default :meth:`EngagementPolicy.default`)."""
    base = scenario_path.parent if scenario_path else Path.cwd()
    out = {}
    for p in sc.partners:
        if p.engagement_policy is None:
            out[p.name] = EngagementPolicy.default(p.name)
            continue
        path = base / p.engagement_policy
        pol = load_engagement_policy(path)
        if pol.partner != p.name:
            raise ConfigError(
                str(path), f"policy of {pol.partner!r} attached to partner {p.name!r}", "$.partner"
            )
        out[p.name] = pol
    return out


def sim_identities(sc: Scenario, seed: int) -> dict[str, Identity]:
    """A deterministic Ed25519 identity per node (simulation only; live nodes load keys)."""
    return {
        n: Identity.generate(n, seed=hashlib.sha256(f"{seed}:{n}".encode()).digest())
        for n in [p.name for p in sc.partners] + [sc.coordinator.name]
    }


def build_partner(
    sc: Scenario,
    name: str,
    *,
    identity: Identity,
    endpoint: Endpoint,
    opener: Opener,
    policy: Policy,
    scans: Iterator[Scan],
    epoch_s: float,
    adsb: AdsbReports | None = None,
    feeds: Sequence[ScanFeed] = (),
    adsb_feeds: Sequence[AdsbFeed] = (),
    track_sources: Sequence[TrackSource] = (),
    reporting: Sequence[SelfReporting] = (),
    engagement: EngagementPolicy | None = None,
    effector: Effector | None = None,
    emit: Emit = _ignore,
    observe: Observe = _ignore,
    show: Show = _ignore,
    on_scan: Callable[[Scan], None] | None = None,
    seed: int | None = None,
) -> PartnerNode:
    """Partner ``name`` of ``sc``: its tracker, its policy, an assessor for its own areas,
    and — if it has fire units — its fire control.

    ``adsb``: every ADS-B report of the run (scenario time); the partner keeps those its
    own receivers got. ``feeds``: its live sensors (e.g. ASTERIX on UDP), polled each step.
    ``adsb_feeds``: its live ADS-B (e.g. CAT021 on UDP), added to ``adsb`` as it comes.
    ``track_sources``: its national tracker's system tracks (CAT062), released as its own.
    ``reporting``: radars that tell their own state besides its live feeds (a recorded
    feed's CAT034, :class:`~mead.sensors.asterix_feed.FileReplay`).
    ``engagement``: its engagement policy (default: defend own areas, help others).
    ``effector``: where its interceptors fly (simulation: against truth; default: nowhere).
    ``on_scan``: sees every scan its tracker takes (e.g. its plots sent as CAT048).
    ``seed``: draws of a lying partner's ghosts (default: the scenario's seed)."""
    p = next(q for q in sc.partners if q.name == name)
    own = [a for a in sc.defended_areas if a.owner == name]
    fire = None
    if p.fire_units:
        beside = neighbour_owners(sc.defended_areas)
        fire = FireControl(
            name,
            UnitTable.of_scenario(sc, name),
            engagement or EngagementPolicy.default(name),
            effector or NoEffector(),
            emit,
            shared_areas=[a.name for a in own if beside[a.name]],
        )
    return PartnerNode(
        identity=identity,
        endpoint=endpoint,
        opener=opener,
        scans=scans,
        tracker=Tracker(name),
        releaser=Releaser(policy, recipients=known_nodes(sc)),
        assessor=Assessor.for_areas(name, own),
        release_s=p.release_s,
        epoch_s=epoch_s,
        sensor_sites=site_table(p.sensors),
        adsb=None if adsb is None else to_wire(adsb.for_partner(name), epoch_s),
        feeds=feeds,
        adsb_feeds=adsb_feeds,
        track_sources=track_sources,
        fire=fire,
        coordinator=sc.coordinator.name,
        emit=emit,
        observe=observe,
        show=show,
        on_scan=on_scan or _ignore,
        health=RadarHealth(p.sensors, with_feeds(sc.radar_state, [*feeds, *reporting])),
        status_to=sc.coordinator.name,
        status_s=p.status_s,
        falsifier=Falsifier.of_partner(sc, name, sc.seed if seed is None else seed),
    )


def to_wire(reports: AdsbReports, epoch_s: float) -> AdsbReports:
    """ADS-B reports with their times moved from scenario seconds to wire time (UTC s)."""
    return dataclasses.replace(reports, t=reports.t + epoch_s)


def build_coordinator(
    sc: Scenario,
    *,
    identity: Identity,
    endpoint: Endpoint,
    opener: Opener,
    adsb: AdsbReports | None = None,
    emit: Emit = _ignore,
    observe: Observe = _ignore,
    show: Show = _ignore,
) -> CoordinatorNode:
    """The coordinator of ``sc``: a fuser, an assessor for every defended area and, if
    partners declared fire units, the engagement planner.

    ``adsb``: the ADS-B reports the partners' receivers got (scenario time), which partners
    forward to the coordinator: broadcast by the aircraft themselves, they tell nothing of
    a partner's sensors but the receivers' reach."""
    areas = list(sc.defended_areas)
    units = UnitTable.of_scenario(sc)
    fuser = SystemTracker(bias_window=BIAS_WINDOW)
    return CoordinatorNode(
        identity=identity,
        endpoint=endpoint,
        opener=opener,
        assessor=Assessor.for_areas(sc.coordinator.name, areas),
        assess_s=sc.coordinator.assess_s,
        fuser=fuser,
        adsb=None if adsb is None else to_wire(adsb, sc.start_epoch_s()),
        planner=(
            Planner(units, tracks=fuser, neighbours=neighbour_owners(areas))
            if len(units)
            else None
        ),
        coverage=DeclaredCoverage.of_scenario(sc),
        bias_s=BIAS_S,
        min_shared=BIAS_MIN_PAIRINGS,
        check_partners=sc.coordinator.check_partners,
        corroborate_s=sc.coordinator.corroborate_s,
        emit=emit,
        observe=observe,
        show=show,
    )
