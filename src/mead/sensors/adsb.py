"""Simulated ADS-B: civil aircraft broadcast their own position, heard by partners' receivers.

An equipped civil flight (``civil.adsb_fraction`` of them; threats never) broadcasts its
GNSS position, barometric altitude and velocity with a fixed 24-bit ICAO address and a
callsign. Real transponders send a position twice a second; a ground station forwards one
report per aircraft every ``civil.adsb_period_s`` (each aircraft at its own phase), which is
what is simulated. Errors are Gaussian: ``adsb_sigma_m`` east and north (NACp-like),
``adsb_alt_sigma_m`` up, ``adsb_vel_sigma_mps`` per ECEF velocity axis; one broadcast has one
error, whichever receivers hear it.

Each partner has ground receivers at its sensor sites (antennas ``RX_MAST_M`` above the
site): it hears a report when the aircraft is within ``partners[].adsb_range_km`` of a site
and above that receiver's horizon on a 4/3 earth (``detection.line_of_sight``).

ADS-B draws come from a random stream of their own (``adsb_rng``), so adding ADS-B leaves
the truth and the radar plots of a seed unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mead import geo
from mead.errors import ConfigError
from mead.scenario.schema import Civil, Scenario
from mead.sensors.detection import ecef2alt_m, line_of_sight
from mead.sim.base import TruthTable
from mead.types import Array, Covs, Mask, Positions

RX_MAST_M = 10.0
"""Height of an ADS-B receiver antenna above its sensor site, m."""

ICAO_SPACE = 1 << 24
"""24-bit ICAO aircraft addresses; 0 is never assigned (it means "none")."""

AIRLINES = ("RJA", "MEA", "THY", "UAE", "QTR", "ELY", "SVA", "KAC", "MSR", "DLH", "AFR", "BAW")
"""Callsign prefixes (ICAO airline designators)."""

ADSB_STREAM = 2
"""Spawn key of the ADS-B stream under the run seed (truth is child 0, radar plots child 1)."""


def adsb_rng(seed: int) -> np.random.Generator:
    """The ADS-B generator of run ``seed``: ``SeedSequence(seed).spawn(3)[2]``.

    The runner draws truth and plots from ``SeedSequence(seed).spawn(2)``; this third child
    is independent of both, so ADS-B never shifts the other streams.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ADSB_STREAM,)))


@dataclass(frozen=True)
class AdsbIdentity:
    """Transponder of every truth object (N,): whether it has one, its address and callsign."""

    equipped: Mask  # (N,) broadcasts ADS-B (civil aircraft only)
    icao: np.ndarray  # (N,) uint32 24-bit address, unique, > 0 (drawn for every object)
    callsign: np.ndarray  # (N,) <U8, e.g. "RJA1234"
    phase_s: Array  # (N,) report phase in [0, adsb_period_s), s


@dataclass(frozen=True)
class AdsbReports:
    """K ADS-B reports as columns, sorted by time (then partner); one row per receiving partner.

    ``truth`` names the truth object that sent each report and is for scoring only.
    """

    partners: tuple[str, ...]  # partner pseudonyms; ``partner`` indexes this
    t: Array  # (K,) report time (position valid at), scenario s
    partner: np.ndarray  # (K,) int16 index into ``partners`` of the receiving partner
    icao: np.ndarray  # (K,) uint32 24-bit ICAO address
    callsign: np.ndarray  # (K,) <U8
    ecef: Positions  # (K, 3) reported position, ECEF m
    vel: Positions  # (K, 3) reported velocity, ECEF m/s
    sigma_m: Array  # (K,) 1-σ horizontal position error, m
    sigma_alt_m: Array  # (K,) 1-σ altitude error, m
    sigma_vel_mps: Array  # (K,) 1-σ velocity error per axis, m/s
    truth: np.ndarray  # (K,) int64 truth object index (scoring only)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def take(self, rows: np.ndarray) -> AdsbReports:
        """The reports at ``rows`` (index or mask), same partner table."""
        return AdsbReports(
            self.partners,
            self.t[rows],
            self.partner[rows],
            self.icao[rows],
            self.callsign[rows],
            self.ecef[rows],
            self.vel[rows],
            self.sigma_m[rows],
            self.sigma_alt_m[rows],
            self.sigma_vel_mps[rows],
            self.truth[rows],
        )

    def for_partner(self, name: str) -> AdsbReports:
        """The reports received by partner ``name`` (still time-ordered); none if unknown."""
        if name not in self.partners:
            return self.take(np.zeros(len(self), bool))
        return self.take(self.partner == self.partners.index(name))

    def window(self, t0: float, t1: float) -> AdsbReports:
        """The reports with ``t0 < t ≤ t1`` (binary search: rows must be time-ordered)."""
        lo, hi = np.searchsorted(self.t, [t0, t1], side="right")
        return self.take(np.arange(lo, hi))

    def received(self, name: str, t0: float, t1: float) -> AdsbReports:
        """What partner ``name`` received in ``(t0, t1]``."""
        return self.for_partner(name).window(t0, t1)

    def position_cov(self) -> Covs:
        """(K, 3, 3) ECEF position covariance of each report (``adsb_position_cov``)."""
        return adsb_position_cov(self.ecef, self.sigma_m, self.sigma_alt_m)


class AdsbFeed(Protocol):
    """Live ADS-B whose reports arrive while the node runs (e.g. CAT021 on UDP:
    ``mead.sensors.adsb_asterix.AdsbUdpFeed``), beside the reports known in advance."""

    def ready(self) -> AdsbReports:
        """The reports received since the last call (scenario time, time-ordered)."""
        ...


def empty_reports(partners: tuple[str, ...] = ()) -> AdsbReports:
    """No reports."""
    z = np.empty(0)
    return AdsbReports(
        partners,
        z,
        np.empty(0, np.int16),
        np.empty(0, np.uint32),
        np.empty(0, "<U8"),
        np.empty((0, 3)),
        np.empty((0, 3)),
        z,
        z,
        z,
        np.empty(0, np.int64),
    )


def merge_reports(a: AdsbReports, b: AdsbReports) -> AdsbReports:
    """The reports of both, sorted by (time, partner), on ``a``'s partner table (``b``'s
    partners must be in it: a ValueError names the one that is not)."""
    missing = [p for p in b.partners if p not in a.partners]
    if missing:
        raise ValueError(f"ADS-B reports of {missing[0]!r}, not a partner of {a.partners}")
    remap = np.array([a.partners.index(p) for p in b.partners], dtype=np.int16)
    part = np.concatenate([a.partner, remap[b.partner] if len(b) else b.partner])
    t = np.concatenate([a.t, b.t])
    order = np.lexsort((part, t))
    cols = [np.concatenate([getattr(a, f), getattr(b, f)])[order]
            for f in ("icao", "callsign", "ecef", "vel", "sigma_m", "sigma_alt_m",
                      "sigma_vel_mps", "truth")]  # fmt: skip
    return AdsbReports(a.partners, t[order], part[order].astype(np.int16), *cols)


def adsb_position_cov(ecef: Positions, sigma_m: Array, sigma_alt_m: Array) -> Covs:
    """ECEF covariances (K, 3, 3) of positions (K, 3) with σ east = north, σ up (K,) m.

    R = Tᵀ diag(σ_h², σ_h², σ_v²) T with T the ENU rotation at each position.
    """
    lat, lon, _ = geo.ecef2geodetic(ecef)
    rot = geo.enu_rotations(lat, lon)  # (K, 3, 3) ECEF → ENU
    d = np.stack([sigma_m**2, sigma_m**2, sigma_alt_m**2], axis=-1)
    return np.einsum("kji,kj,kjl->kil", rot, d, rot)


def draw_identities(truth: TruthTable, civil: Civil, rng: np.random.Generator) -> AdsbIdentity:
    """Transponders of all truth objects; only civil aircraft may be equipped.

    Every object gets its draws whatever its kind or the fraction, so one flight keeps its
    address and callsign when ``adsb_fraction`` or the threats change.
    """
    n = len(truth)
    u = rng.random(n)
    icao = rng.integers(1, ICAO_SPACE, size=n)
    for _ in range(100):  # collisions are rare (birthday bound ~ n²/2²⁵)
        _, first = np.unique(icao, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        if dup.size == 0:
            break
        icao[dup] = rng.integers(1, ICAO_SPACE, size=dup.size)
    airline = rng.integers(len(AIRLINES), size=n)
    number = rng.integers(1, 10_000, size=n)
    callsign = np.array([f"{AIRLINES[a]}{k}" for a, k in zip(airline, number, strict=True)])
    phase = civil.adsb_period_s * rng.random(n)
    equipped = (np.asarray(truth.kind) == "aircraft") & (u < civil.adsb_fraction)
    return AdsbIdentity(equipped, icao.astype(np.uint32), callsign.astype("<U8"), phase)


def _report_times(
    truth: TruthTable, ident: AdsbIdentity, period_s: float, duration_s: float
) -> tuple[np.ndarray, Array]:
    """(object index, time) of every report of every equipped object in [0, duration_s)."""
    obj = np.flatnonzero(ident.equipped)
    phase = ident.phase_s[obj]
    t0 = np.maximum(truth.t_start[obj], 0.0)
    t1 = np.minimum(truth.t_end[obj], duration_s)
    k0 = np.ceil((t0 - phase) / period_s)
    k1 = np.ceil((t1 - phase) / period_s) - 1  # t < t1 strictly
    n = np.maximum(k1 - k0 + 1, 0).astype(np.int64)
    rows = np.repeat(np.arange(obj.size), n)
    k = k0[rows] + (np.arange(rows.size) - np.repeat(np.cumsum(n) - n, n))
    return obj[rows], phase[rows] + k * period_s


def truth_states(truth: TruthTable, obj: np.ndarray, t: Array) -> Array:
    """ECEF states (K, 6) of objects ``obj`` (K,) at their own times ``t`` (K,) s.

    The same linear interpolation as ``TruthTable.states_at``, one time per row.
    """
    u = (t - truth.t_start[obj]) / truth.dt[obj]
    k = np.maximum(np.minimum(np.floor(u).astype(np.int64), truth.count[obj] - 2), 0)
    w = np.clip(u - k, 0.0, 1.0)[:, None]
    i0 = truth.offset[obj] + k
    return (1.0 - w) * truth.samples[i0] + w * truth.samples[i0 + 1]


def heard_by(scenario: Scenario, ecef: Positions) -> list[Mask]:
    """Per partner (scenario order), which positions (K, 3) its ADS-B receivers hear (K,)."""
    alt = ecef2alt_m(ecef) if len(ecef) else np.empty(0)
    out = []
    for p in scenario.partners:
        heard = np.zeros(len(ecef), bool)
        reach = p.adsb_range_km * 1e3
        for s in p.sensors if reach > 0 else []:
            site = s.site
            h_rx = site.alt_m + RX_MAST_M
            o = geo.geodetic2ecef(*np.array([site.lat_deg, site.lon_deg, h_rx]))
            r = np.linalg.norm(ecef - o, axis=1)
            near = r <= reach
            heard |= near & line_of_sight(r, h_rx, alt, -np.pi / 2, np.pi / 2)
        out.append(heard)
    return out


def simulate_adsb(scenario: Scenario, truth: TruthTable, rng: np.random.Generator) -> AdsbReports:
    """Every ADS-B report every partner receives over [0, ``scenario.duration_s``).

    Parameters
    ----------
    scenario : its ``civil`` block sets equipage, period and errors; its partners' sensor
        sites carry the receivers (``partners[].adsb_range_km``).
    truth : truth trajectories; only civil ``aircraft`` can be equipped.
    rng : the ADS-B stream (``adsb_rng(seed)``); identities and errors come from two
        children of it, so a flight keeps its address if the error settings change.

    Returns
    -------
    AdsbReports sorted by (time, partner).
    """
    civ = scenario.civil
    if civ.adsb_period_s <= 0 or not 0.0 <= civ.adsb_fraction <= 1.0:
        raise ConfigError(
            f"scenario {scenario.name!r}",
            f"civil.adsb_period_s must be > 0 and civil.adsb_fraction in [0, 1] "
            f"(got {civ.adsb_period_s!r}, {civ.adsb_fraction!r})",
            "$.civil",
        )
    id_rng, noise_rng = rng.spawn(2)
    ident = draw_identities(truth, civ, id_rng)
    obj, t = _report_times(truth, ident, civ.adsb_period_s, scenario.duration_s)
    x = truth_states(truth, obj, t) if obj.size else np.empty((0, 6))
    k = obj.size
    lat, lon, _ = geo.ecef2geodetic(x[:, :3])
    rot = geo.enu_rotations(lat, lon).reshape(k, 3, 3)
    sig_enu = np.array([civ.adsb_sigma_m, civ.adsb_sigma_m, civ.adsb_alt_sigma_m])
    d_enu = noise_rng.standard_normal((k, 3)) * sig_enu
    pos = x[:, :3] + np.einsum("kji,kj->ki", rot, d_enu)
    vel = x[:, 3:] + noise_rng.standard_normal((k, 3)) * civ.adsb_vel_sigma_mps
    heard = heard_by(scenario, x[:, :3])
    part = np.concatenate([np.full(int(m.sum()), i, np.int16) for i, m in enumerate(heard)])
    rows = np.concatenate([np.flatnonzero(m) for m in heard]) if heard else np.empty(0, int)
    order = np.lexsort((part, t[rows]))
    rows, part = rows[order], part[order]
    o = obj[rows]
    return AdsbReports(
        tuple(p.name for p in scenario.partners),
        t[rows],
        part,
        ident.icao[o],
        ident.callsign[o],
        pos[rows],
        vel[rows],
        np.full(rows.size, civ.adsb_sigma_m),
        np.full(rows.size, civ.adsb_alt_sigma_m),
        np.full(rows.size, civ.adsb_vel_sigma_mps),
        o.astype(np.int64),
    )
