"""Threat evaluation: which threat-class tracks are predicted to reach which defended areas.

Ballistic and rocket tracks threaten an area when their predicted impact lies within the
area grown by the impact-area radius (circle: distance to the centre ≤ radius + impact
radius; polygon: inside, or distance to the polygon's edge ≤ impact radius). Cruise
missiles and drones threaten an area when their straight-line path passes, within the
class horizon, closer to the area than its radius plus the k-σ cross-track margin; a
polygon is taken as its bounding circle here (centre = mean of the vertices, radius = the
farthest vertex), a documented simplification that errs on the side of warning. Aircraft
and unknown tracks never threaten. Nothing depends on who runs the assessment.

Each threatened pair has a level: an area *alert* when the probability that the object
lands in the area (ballistic, rocket: :func:`area_probability`) or reaches it (cruise,
drone: :func:`reach_probability`, which allows for turns still to come) is at least the
rule's threshold, else a *pre-alert* to an area only in the wide region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import norm

from mead import geo
from mead.errors import ThreatInputError
from mead.messages import TRACK_CLASSES, TrackClass
from mead.scenario.schema import DefendedArea
from mead.threat.base import Threat, track_number
from mead.threat.classify import BALLISTIC, CRUISE, DRONE, ROCKET, Rules, among
from mead.threat.impact import (
    DEFAULT_BETA_KG_M2,
    K95_2D,
    predict_impact,
    straight_line_approach,
)
from mead.threat.local import Local, check_tracks, local
from mead.threat.trajectory import FlightFit
from mead.types import Array, Covs, States

_CODE: dict[str, int] = {c: i for i, c in enumerate(TRACK_CLASSES)}


@dataclass(frozen=True)
class AreaSet:
    """Defended areas as arrays (A areas), built once from the scenario structs."""

    names: list[str]  # (A,)
    owners: list[str]  # (A,) owner pseudonyms
    values: Array  # (A,) 0..100
    lat_deg: Array  # (A,) circle centre, or polygon vertex mean
    lon_deg: Array  # (A,)
    radius_m: Array  # (A,) circle radius, or polygon bounding radius
    polygons: dict[int, Array]  # area index → (K, 2) [lat, lon] deg, polygon areas only

    def __len__(self) -> int:
        return len(self.names)

    def distance_m(self, lat_deg: Array, lon_deg: Array) -> Array:
        """(N, A) m from N points to each area: 0 inside, else to the circle's edge or the
        polygon's nearest edge."""
        lat, lon = np.asarray(lat_deg, np.float64), np.asarray(lon_deg, np.float64)
        d = geo.great_circle_distance_m(
            lat[:, None], lon[:, None], self.lat_deg[None], self.lon_deg[None]
        )
        out = np.maximum(d - self.radius_m[None], 0.0)
        for j, poly in self.polygons.items():
            out[:, j] = polygon_distance_m(lat, lon, poly)
        return out

    @staticmethod
    def from_areas(areas: Sequence[DefendedArea]) -> AreaSet:
        """Convert ``DefendedArea`` structs (circle or polygon) to arrays."""
        lat, lon, rad, polys = [], [], [], {}
        for i, a in enumerate(areas):
            if a.circle is not None:
                lat.append(a.circle.lat_deg)
                lon.append(a.circle.lon_deg)
                rad.append(a.circle.radius_km * 1e3)
            elif a.polygon is not None:
                poly = np.asarray(a.polygon, dtype=np.float64)
                c = poly.mean(axis=0)
                d = geo.great_circle_distance_m(c[0], c[1], poly[:, 0], poly[:, 1])
                lat.append(float(c[0]))
                lon.append(float(c[1]))
                rad.append(float(np.max(d)))
                polys[i] = poly
            else:
                raise ThreatInputError(f"defended area {a.name!r} has neither circle nor polygon")
        return AreaSet(
            names=[a.name for a in areas],
            owners=[a.owner for a in areas],
            values=np.array([a.value for a in areas], dtype=np.float64),
            lat_deg=np.array(lat, dtype=np.float64),
            lon_deg=np.array(lon, dtype=np.float64),
            radius_m=np.array(rad, dtype=np.float64),
            polygons=polys,
        )


def polygon_distance_m(lat_deg: Array, lon_deg: Array, poly: Array) -> Array:
    """Distance (N,) m from N points to a small lat/lon polygon (K, 2): 0 inside, else to
    the nearest edge, in each point's local equirectangular plane (no antimeridian wrap)."""
    lat = np.asarray(lat_deg, dtype=np.float64)[:, None]
    lon = np.asarray(lon_deg, dtype=np.float64)[:, None]
    m_per_deg = geo.R_MEAN_M * np.pi / 180.0
    kx = m_per_deg * np.cos(np.radians(lat))
    ax, ay = (poly[None, :, 1] - lon) * kx, (poly[None, :, 0] - lat) * m_per_deg  # (N, K)
    bx, by = np.roll(ax, -1, axis=1), np.roll(ay, -1, axis=1)
    ex, ey = bx - ax, by - ay
    L2 = ex**2 + ey**2
    u = np.clip(-(ax * ex + ay * ey) / np.where(L2 > 0, L2, 1.0), 0.0, 1.0)
    d = np.hypot(ax + u * ex, ay + u * ey).min(axis=1)
    inside = geo.point_in_polygon(lat[:, 0], lon[:, 0], poly)
    return np.where(inside, 0.0, d)


@dataclass(frozen=True)
class Limits:
    """Gross kinematic limits of each threat class (looser than the classifier's bands)."""

    drone_max_alt_m: float = 4_000.0
    min_alt_m: float = -300.0  # any class: a track this far below the ellipsoid is broken
    drone_max_speed_mps: float = 120.0  # ground speed
    cruise_max_alt_m: float = 5_000.0
    cruise_speed_mps: tuple[float, float] = (80.0, 450.0)  # ground speed
    fast_min_speed_mps: float = 400.0  # ballistic/rocket: faster than this,
    fast_min_climb_mps: float = 100.0  # or climbing/diving faster than this;
    # and below this altitude climbing or diving at least this steeply: the classifier's
    # own physical rule (no level flight at ballistic speed in dense air)
    fast_level_max_alt_m: float = Rules.fast_level_max_alt_m
    fast_min_path_angle_deg: float = Rules.fast_min_path_angle_deg
    k_sigma: float = 2.0  # speeds count as beyond a limit only by this many σ


def plausible(codes: np.ndarray, loc: Local, limits: Limits = Limits()) -> np.ndarray:
    """(N,) the track's kinematics are possible for its threat class (True for others).

    A class can reach the coordinator through fusion from another object (a track swap,
    a system track number that changed hands), and the hysteresis of the classifier keeps
    a threat class for good; this gate keeps such a track from warning anyone:

    ==============  ==========================================================
    class           plausible when (drone/cruise speeds within 2σ of the limit count)
    ==============  ==========================================================
    drone           −300 m to 4 km, ground speed < 120 m/s
    cruise          −300 m to 5 km, ground speed 80–450 m/s
    ballistic,      above −300 m, and 3-D speed > 400 m/s or |vertical speed| > 100 m/s,
    rocket          and below 8 km climbing or diving at ≥ 10° (``Local.steep_or_above``)
                    (point estimates: a track too uncertain to tell is not plausible)
    ==============  ==========================================================
    """
    lim, h, k = limits, loc.alt_m, limits.k_sigma
    g, sg = loc.ground_speed_mps, loc.ground_speed_sigma_mps()
    v = loc.speed_mps
    w = np.abs(loc.v_enu[:, 2])
    fast = (v > lim.fast_min_speed_mps) | (w > lim.fast_min_climb_mps)
    above = h > lim.min_alt_m
    flies = loc.steep_or_above(lim.fast_level_max_alt_m, lim.fast_min_path_angle_deg)
    drone = above & (h < lim.drone_max_alt_m) & (g - k * sg < lim.drone_max_speed_mps)
    cruise = (
        above
        & (h < lim.cruise_max_alt_m)
        & (g + k * sg > lim.cruise_speed_mps[0])
        & (g - k * sg < lim.cruise_speed_mps[1])
    )
    return np.select(
        [among(codes, (BALLISTIC, ROCKET)), codes == DRONE, codes == CRUISE],
        [above & fast & flies, drone, cruise],
        default=True,
    )


def class_codes(classes: Sequence[str] | np.ndarray, n: int) -> np.ndarray:
    """Class names (or int codes) → (N,) int8 codes; raise naming an unknown class."""
    if isinstance(classes, np.ndarray) and classes.dtype.kind in "iu":
        codes = classes.astype(np.int8)
        if codes.size and (codes.min() < 0 or codes.max() >= len(TRACK_CLASSES)):
            raise ThreatInputError(f"class codes must be in 0..{len(TRACK_CLASSES) - 1}")
    else:
        try:
            codes = np.array([_CODE[c] for c in classes], dtype=np.int8)
        except KeyError as e:
            raise ThreatInputError(
                f"unknown track class {e.args[0]!r} (known: {', '.join(TRACK_CLASSES)})"
            ) from None
    if codes.shape != (n,):
        raise ThreatInputError(f"classes has {codes.size} entries but x has {n} rows")
    return codes


@dataclass(frozen=True)
class _Pairs:
    """Threatened (track row, area) pairs of one family, with their predictions."""

    rows: np.ndarray  # (K,) row into the assessed tracks
    cols: np.ndarray  # (K,) area index
    lat: Array  # (K,) impact / closest-approach point
    lon: Array
    radius: Array  # (K,) m
    tgo: Array  # (K,) s
    miss: Array  # (K,) m, to the area's edge
    marginal: np.ndarray  # (K,) bool: only within the looser "stay" threshold
    sigma_tgo: Array | None = None  # (K,) 1-σ of the time to go, s
    p_area: Array | None = None  # (K,) probability of landing in (or reaching) the area
    pre: np.ndarray | None = None  # (K,) bool: a pre-alert (area in the region, not likely)
    hold: np.ndarray | None = None  # (K,) bool: a pre-alert likely enough to hold an alert


def _ballistic_pairs(
    x: States,
    P: Covs,
    rows: np.ndarray,
    areas: AreaSet,
    beta_kg_m2: float | None,
    max_radius_m: float,
    stay: float,
    loc: Local,
    flight: FlightFit | None,
    p_alert: float,
    hold_frac: float,
) -> _Pairs:
    ahead = heading_towards(loc, areas)
    rows = rows[ahead]
    x7, P7 = with_drag(x[rows], P[rows], beta_kg_m2)
    if flight is not None:  # free-flight fits where there are: state now, κ and covariance
        use = flight.ok[rows]
        x7[use], P7[use] = flight.x[rows[use]], flight.P[rows[use]]
    imp = predict_impact(x7, P7)
    ilat, ilon = np.nan_to_num(imp.lat_deg), np.nan_to_num(imp.lon_deg)
    miss = areas.distance_m(ilat, ilon)
    thr = np.where(imp.ok, np.minimum(np.nan_to_num(imp.radius_m), max_radius_m), -1.0)
    sure = (imp.radius_m <= max_radius_m)[:, None]  # nan (not landed) compares False
    pairs = _pairs(
        rows, miss, thr[:, None], sure, stay, imp.lat_deg, imp.lon_deg, imp.radius_m, imp.tgo_s
    )
    k = np.searchsorted(rows, pairs.rows)  # rows are ascending: pair → impact row
    prob = area_probability(ilat[k], ilon[k], imp.cov_en_m2[k], areas, pairs.cols)
    prob = np.where(imp.ok[k], prob, 0.0)
    return replace(
        pairs,
        p_area=prob,
        pre=prob < p_alert,
        hold=prob >= hold_frac * p_alert,
        sigma_tgo=imp.sigma_t_s[k],
    )


_Z = np.random.default_rng(20240414).standard_normal((512, 2))
"""Fixed standard-normal pairs: the impact samples of :func:`area_probability`."""


def area_probability(
    lat_deg: Array, lon_deg: Array, cov_en_m2: Covs, areas: AreaSet, cols: np.ndarray
) -> Array:
    """(K,) probability that impact k lands in area ``cols[k]``.

    The impact is Gaussian about (lat, lon) with east-north covariance ``cov_en_m2``
    (K, 2, 2) m²; the probability is the share of 512 fixed samples of it that fall in the
    area (a circle; a polygon by its vertices), in the impact's local equirectangular plane.
    """
    if cols.size == 0:
        return np.empty(0)
    C = 0.5 * (cov_en_m2 + cov_en_m2.swapaxes(1, 2)) + 1.0 * np.eye(2)  # ≥ 1 m
    lam, vec = np.linalg.eigh(C)
    L = vec * np.sqrt(np.maximum(lam, 0.0))[:, None, :]
    d = _Z @ L.swapaxes(1, 2)  # (K, S, 2) east, north offsets, m
    m_deg = geo.R_MEAN_M * np.pi / 180.0
    coslat = np.cos(np.radians(lat_deg))[:, None]
    ce = ((areas.lon_deg[cols] - lon_deg) * m_deg)[:, None] * coslat
    cn = ((areas.lat_deg[cols] - lat_deg) * m_deg)[:, None]
    inside = (d[..., 0] - ce) ** 2 + (d[..., 1] - cn) ** 2 <= areas.radius_m[cols, None] ** 2
    for j, poly in areas.polygons.items():
        sel = np.flatnonzero(cols == j)
        if sel.size:
            la = lat_deg[sel, None] + d[sel, :, 1] / m_deg
            lo = lon_deg[sel, None] + d[sel, :, 0] / (m_deg * coslat[sel])
            inside[sel] = geo.point_in_polygon(la.ravel(), lo.ravel(), poly).reshape(la.shape)
    return inside.mean(axis=1)


def with_drag(x: States, P: Covs, beta_kg_m2: float | None) -> tuple[Array, Covs]:
    """(K, 7) states with κ = 1/β (0: vacuum) and (K, 7, 7) covariances with κ exact."""
    k = x.shape[0]
    kappa = 0.0 if beta_kg_m2 is None else 1.0 / beta_kg_m2
    x7 = np.concatenate([x, np.full((k, 1), kappa)], axis=1)
    P7 = np.zeros((k, 7, 7))
    P7[:, :6, :6] = P
    return x7, P7


def heading_towards(
    loc: Local, areas: AreaSet, tol_deg: float = 20.0, near_m: float = 150_000.0
) -> np.ndarray:
    """(N,) ballistic/rocket tracks worth an impact prediction against these areas.

    A free-flying missile keeps to its great circle, so its impact lies ahead along its
    ground heading: a track is kept when some area's bearing is within ``tol_deg`` plus
    3σ of the heading's uncertainty, when it is within ``near_m`` of an area, or when it
    has too little ground speed for a heading (rising steeply). This is what keeps a
    partner far from the raid from integrating every missile its early-warning radar sees.
    """
    ve, vn = loc.v_enu[:, 0], loc.v_enu[:, 1]
    g = np.hypot(ve, vn)
    heading = np.degrees(np.arctan2(ve, vn))
    sig = np.degrees(loc.ground_speed_sigma_mps() / np.maximum(g, 1.0))
    lat, lon = loc.lat_deg[:, None], loc.lon_deg[:, None]
    bearing = geo.initial_bearing_deg(lat, lon, areas.lat_deg[None], areas.lon_deg[None])
    off = np.abs((bearing - heading[:, None] + 180.0) % 360.0 - 180.0)
    dist = geo.great_circle_distance_m(lat, lon, areas.lat_deg[None], areas.lon_deg[None])
    towards = (off <= tol_deg + 3.0 * sig[:, None]).any(axis=1)
    return towards | (dist < near_m + areas.radius_m[None]).any(axis=1) | (g < 300.0)


def _approach_pairs(
    loc: Local,
    rows: np.ndarray,
    horizon_s: Array,
    areas: AreaSet,
    rules: ThreatRules,
) -> _Pairs:
    ap = straight_line_approach(
        loc, areas.lat_deg, areas.lon_deg, horizon_s, k_sigma=rules.k_sigma
    )
    miss = np.maximum(ap.miss_m - areas.radius_m[None], 0.0)
    thr = np.minimum(ap.margin_m, rules.max_margin_m)
    sure = ap.margin_m <= rules.max_issue_margin_m
    pairs = _pairs(
        rows, miss, thr, sure, rules.stay_factor, ap.lat_deg, ap.lon_deg, ap.margin_m, ap.tgo_s
    )
    k = np.searchsorted(rows, pairs.rows)  # the time to go scales with the ground speed
    rel = loc.ground_speed_sigma_mps() / np.maximum(loc.ground_speed_mps, 1.0)
    r, c = k, pairs.cols
    prob = reach_probability(
        ap.miss_m[r, c], areas.radius_m[c], ap.sigma_m[r, c], ap.along_m[r, c], rules.route_q
    )
    pre, hold = prob < rules.p_alert_route, prob >= rules.hold_frac * rules.p_alert_route
    return replace(pairs, sigma_tgo=pairs.tgo * rel[k], p_area=prob, pre=pre, hold=hold)


def reach_probability(
    miss_m: Array, radius_m: Array, sigma_m: Array, along_m: Array, route_q: float
) -> Array:
    """(K,) probability that a cruise missile or drone passes within ``radius_m`` of an area.

    The closest approach of the straight path misses the area's centre by ``miss_m``; the
    true cross-track offset there is Gaussian about it, with the track's own 1-σ
    (``sigma_m``: position and heading) and a *route* term for turns still to come: a
    route through waypoints nobody has seen is modelled as a heading that diffuses by
    ``route_q`` rad² per metre flown, whose cross-track variance after a distance s is
    q s³ / 3. The probability is that of the offset lying within ±``radius_m``
    (a polygon counts as its bounding circle). Close in, the track's straight line is
    trusted; hundreds of kilometres out, a few degrees of turn at the next waypoint
    decide which area it reaches, and the probability says so.
    """
    s = np.maximum(np.asarray(along_m, dtype=np.float64), 0.0)
    sig = np.sqrt(np.asarray(sigma_m) ** 2 + route_q * s**3 / 3.0 + 1.0)
    return norm.cdf((radius_m - miss_m) / sig) - norm.cdf((-radius_m - miss_m) / sig)


def _pairs(
    rows: np.ndarray,
    miss: Array,
    thr: Array,
    sure: np.ndarray,
    stay: float,
    lat: Array,
    lon: Array,
    radius: Array,
    tgo: Array,
) -> _Pairs:
    """(track, area) pairs with miss ≤ stay × thr; marginal where miss > thr or not sure.

    ``miss`` (N, A); ``thr`` and ``sure`` (N, A) or (N, 1); ``lat, lon, radius, tgo`` (N,)
    or (N, A). A negative threshold excludes the pair.
    """
    thr = np.broadcast_to(thr, miss.shape)
    sure = np.broadcast_to(sure, miss.shape)
    keep = (thr >= 0.0) & (miss <= stay * thr)
    r, c = np.nonzero(keep)

    def pick(a: Array) -> Array:
        return a[r, c] if a.ndim == 2 else a[r]

    return _Pairs(
        rows[r],
        c,
        pick(lat),
        pick(lon),
        pick(radius),
        pick(tgo),
        miss[r, c],
        (miss[r, c] > thr[r, c]) | ~sure[r, c],
    )


@dataclass(frozen=True)
class ThreatRules:
    """When a track threatens an area: the thresholds of :func:`assess`, in SI units.

    beta_kg_m2 : drag ballistic coefficient for ballistic/rocket tracks (``None``: vacuum).
    drone_horizon_s, cruise_horizon_s : how far ahead straight-line paths are followed, s.
    k_sigma : σ-multiplier of the cross-track margin of cruise/drone paths.
    max_impact_radius_m : a ballistic/rocket track whose impact area is wider than this
        (or not bounded: a sigma point still airborne after an hour) is too uncertain to
        issue a warning; its pairs within ``stay_factor`` × this are marginal.
    max_margin_m : the cross-track margin counted for the decision is capped at this (the
        reported radius is not), so an early, wobbly drone track does not threaten every
        area within reach.
    max_issue_margin_m : a cruise/drone pair whose margin exceeds this is too uncertain to
        issue a warning (marginal).
    stay_factor : pairs missing by up to this multiple of their threshold are returned as
        ``marginal`` threats: enough to keep an open alert alive, not to issue one
        (hysteresis against a prediction that hovers at the edge).
    p_alert : a ballistic/rocket pair is an area *alert* when the probability that the
        object lands in the area (:func:`area_probability`, from the calibrated impact
        distribution) is at least this; an area only inside the wide impact region is a
        *pre-alert* (``level`` "pre"). Measured on the reference raid's missiles: 0.1 gives
        precision 1.00 and warning efficiency 0.71, 0.03 gives 0.93 and 0.77.
    p_alert_route : a cruise/drone pair is an area alert when the probability that the
        object reaches the area (:func:`reach_probability`) is at least this; an area
        only within the path's margin is a pre-alert.
    hold_frac : an open area alert stays an area alert (is not downgraded to a pre-alert)
        while the probability stays at least this fraction of its threshold: hysteresis
        against a probability that hovers at the threshold.
    route_q : heading diffusion of a cruise missile's or drone's route, rad² per metre
        flown (:func:`reach_probability`): 3e-7 is a 1-σ cross-track of 10 km after
        100 km, 3.6 km after 50 km, 52 km after 300 km — waypoint turns of tens of
        degrees every few hundred kilometres.
    limits : gross kinematic limits per class (:func:`plausible`).
    """

    beta_kg_m2: float | None = DEFAULT_BETA_KG_M2  # kg/m²
    drone_horizon_s: float = 3600.0  # s
    cruise_horizon_s: float = 1800.0  # s
    k_sigma: float = K95_2D  # σ
    max_impact_radius_m: float = 250_000.0  # m
    max_margin_m: float = 50_000.0  # m
    max_issue_margin_m: float = 100_000.0  # m
    stay_factor: float = 1.5  # × threshold
    p_alert: float = 0.03  # probability of landing in the area that makes it an alert
    p_alert_route: float = 0.5  # probability of reaching the area that makes it an alert
    hold_frac: float = 0.5  # × threshold: an area alert is held down to this probability
    route_q: float = 3e-7  # rad²/m, heading diffusion of cruise/drone routes
    limits: Limits = Limits()


DEFAULT_RULES = ThreatRules()


def assess(
    t: float,
    ids: Sequence[str],
    x: States,
    P: Covs,
    classes: Sequence[str] | np.ndarray,
    areas: Sequence[DefendedArea] | AreaSet,
    *,
    rules: ThreatRules = DEFAULT_RULES,
    powered: np.ndarray | None = None,
    flight: FlightFit | None = None,
) -> list[Threat]:
    """Threats of N tracks to A defended areas at time ``t``.

    Parameters
    ----------
    t : assessment time, s (any base; ``t_impact = t + tgo``).
    ids : (N,) track ids (system track numbers as strings at the coordinator).
    x : (N, 6) ECEF states [m, m/s] at ``t``.
    P : (N, 6, 6) covariances.
    classes : (N,) class names (``mead.messages.TRACK_CLASSES``) or their int codes.
    areas : defended areas, or an :class:`AreaSet` built from them.
    rules : the thresholds (:class:`ThreatRules`).
    powered : (N,) bool, ballistic/rocket tracks still under thrust (from
        ``Classifier.step``): their impact is not predicted, so they threaten nothing yet.
    flight : free-flight fits of the tracks (:class:`~mead.threat.trajectory.FreeFlightFit`);
        where a row has one, its impact is predicted from it (state, drag and their
        covariance) instead of from ``x``, ``P`` and ``rules.beta_kg_m2``.

    A track whose kinematics are impossible for its class (see :func:`plausible`, e.g. a
    "drone" at 10 km, inherited through fusion or a track swap) threatens nothing.

    Returns
    -------
    One :class:`Threat` per threatened (track, area) pair, in track order then area order.
    """
    x = np.asarray(x, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    check_tracks(x, P, len(ids))
    codes = class_codes(classes, x.shape[0])
    aset = areas if isinstance(areas, AreaSet) else AreaSet.from_areas(areas)
    cand = np.flatnonzero(among(codes, (BALLISTIC, ROCKET, CRUISE, DRONE)))
    if powered is not None:
        cand = cand[~np.asarray(powered, dtype=bool)[cand]]
    if len(aset) == 0 or cand.size == 0:
        return []
    loc = local(x[cand], P[cand])
    ok = plausible(codes[cand], loc, rules.limits)
    is_fast = among(codes[cand], (BALLISTIC, ROCKET))
    order = np.concatenate([np.flatnonzero(ok & is_fast), np.flatnonzero(ok & ~is_fast)])
    sel, loc = cand[order], loc.take(order)  # ballistic/rocket rows first, then the others
    fast, slow = sel[is_fast[order]], sel[~is_fast[order]]
    pairs = []
    if fast.size:
        pairs.append(
            _ballistic_pairs(
                x,
                P,
                fast,
                aset,
                rules.beta_kg_m2,
                rules.max_impact_radius_m,
                rules.stay_factor,
                loc.take(np.arange(fast.size)),
                flight,
                rules.p_alert,
                rules.hold_frac,
            )
        )
    if slow.size:
        horizon = np.where(codes[slow] == DRONE, rules.drone_horizon_s, rules.cruise_horizon_s)
        slow_loc = loc.take(np.arange(fast.size, sel.size))
        pairs.append(_approach_pairs(slow_loc, slow, horizon, aset, rules))
    li = np.empty(x.shape[0], dtype=np.intp)
    li[sel] = np.arange(sel.size)  # track row → row of ``loc``
    pairs = [  # once per batch, not once per threat
        p if p.sigma_tgo is None else replace(p, sigma_tgo=np.nan_to_num(p.sigma_tgo))
        for p in pairs
    ]
    found = [f for p in pairs for f in _threats(t, ids, codes, aset, loc, li, p)]
    found.sort(key=lambda f: (f[0], f[1]))
    return [f[2] for f in found]


def _threats(
    t: float,
    ids: Sequence[str],
    codes: np.ndarray,
    aset: AreaSet,
    loc: Local,
    li: np.ndarray,
    p: _Pairs,
) -> list[tuple[int, int, Threat]]:
    """(track row, area column, Threat) of every pair of ``p``; the columns go to Python
    lists once per batch (a swarm gives thousands of pairs per cycle)."""
    n = len(p.rows)
    rows, cols = p.rows.tolist(), p.cols.tolist()
    at = li[p.rows]  # pair → row of ``loc``
    tlat, tlon, talt = (a[at].tolist() for a in (loc.lat_deg, loc.lon_deg, loc.alt_m))
    lat, lon, radius = p.lat.tolist(), p.lon.tolist(), p.radius.tolist()
    tgo, miss, marginal = p.tgo.tolist(), p.miss.tolist(), p.marginal.tolist()
    pre = p.pre.tolist() if p.pre is not None else [False] * n
    hold = p.hold.tolist() if p.hold is not None else [False] * n
    sig = p.sigma_tgo.tolist() if p.sigma_tgo is not None else [0.0] * n  # finite (assess)
    prob = p.p_area.tolist() if p.p_area is not None else [1.0] * n
    cls: list[TrackClass] = [TRACK_CLASSES[c] for c in codes[p.rows].tolist()]
    values = aset.values.tolist()
    return [
        (
            r,
            c,
            Threat(
                t=t,
                track_id=ids[r],
                system_track=track_number(ids[r]),
                area=aset.names[c],
                owner=aset.owners[c],
                threat_class=cls[k],
                impact_lat_deg=lat[k],
                impact_lon_deg=lon[k],
                impact_radius_m=radius[k],
                t_impact=t + tgo[k],
                tgo_s=tgo[k],
                miss_m=miss[k],
                track_lat_deg=tlat[k],
                track_lon_deg=tlon[k],
                track_alt_m=talt[k],
                value=values[c],
                marginal=bool(marginal[k]),
                level="pre" if pre[k] else "alert",
                hold=bool(hold[k]),
                sigma_tgo_s=sig[k],
                p_area=prob[k],
            ),
        )
        for k, (r, c) in enumerate(zip(rows, cols, strict=True))
    ]
