"""Scenario schema: typed, validated config structs for a whole coalition run.

YAML keys carry their unit (``range_km``, ``lat_deg``); range and enum checks live in the
types and cross-field checks in ``__post_init__``. The loader in ``loader.py`` turns any
violation into one ``ConfigError`` naming the file and the field path. Defaults come from
public figures and live here, next to the field they fill.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from msgspec import Meta, Struct

from mead.errors import FieldError

Lat = Annotated[float, Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, Meta(ge=-180.0, le=180.0)]
NonNeg = Annotated[float, Meta(ge=0.0)]
Pos = Annotated[float, Meta(gt=0.0)]
Prob = Annotated[float, Meta(ge=0.0, le=1.0)]
Name = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
"""Names double as bus subject tokens, so no dots or spaces."""
ThreatKind = Literal["ballistic", "rocket", "cruise", "drone"]
UnitType = Literal["upper_tier", "lower_tier", "short_range", "air_patrol"]


class Point(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A geodetic point."""

    lat_deg: Lat
    lon_deg: Lon
    alt_m: float = 0.0  # height above the WGS84 ellipsoid, m


class Sector(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An azimuth sector a radar covers, clockwise from ``min_az_deg`` to ``max_az_deg``."""

    min_az_deg: Annotated[float, Meta(ge=-360.0, le=360.0)]
    max_az_deg: Annotated[float, Meta(ge=-360.0, le=720.0)]

    def __post_init__(self) -> None:
        if self.max_az_deg <= self.min_az_deg:
            raise ValueError(
                f"max_az_deg ({self.max_az_deg}) must exceed min_az_deg ({self.min_az_deg})"
            )


SacSic = Annotated[str, Meta(pattern=r"^[0-9]{1,3}/[0-9]{1,3}$")]
"""An ASTERIX data source identifier, 'SAC/SIC' (each 0..255)."""
HostPort = Annotated[str, Meta(pattern=r"^[0-9A-Za-z.:_-]+:[0-9]{1,5}$")]
"""'host:port' (an IPv4 address or name, and a port)."""
IPv4 = Annotated[str, Meta(pattern=r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")]
"""A dotted IPv4 address (an interface's, for joining a multicast group on it)."""


def check_port(field: str, host_port: str) -> None:
    """A ``host:port`` (already of the right pattern) whose port is 1..65535, else a
    FieldError naming ``field``."""
    if not 0 < int(host_port.rsplit(":", 1)[1]) < 65536:
        raise FieldError(field, f"port must be 1..65535 (got {host_port!r})")


class AsterixFeed(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A real radar's ASTERIX feed (CAT048 plots, CAT034 service messages) in place of the
    simulator: a recording (``file``) or a UDP socket (``udp``, live nodes only).

    ASTERIX names the radar (SAC/SIC) but not where it stands: the sensor's ``site`` says.
    """

    file: str | None = None  # .ast or .pcap recording, relative to the scenario file
    udp: HostPort | None = None  # 'host:port' to listen on; a multicast group is joined
    iface: IPv4 | None = None  # udp multicast: join on this interface (default: the system's)
    radar: SacSic | None = None  # read only this radar's plots (default: file: the one
    # with the most plots; udp: every CAT048 plot)
    start_s: Annotated[float, Meta(ge=0.0)] = 0.0  # file: scenario time of its first plot
    max_spread_s: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.5  # plots this close: one scan

    def __post_init__(self) -> None:
        if (self.file is None) == (self.udp is None):
            raise FieldError("", "give exactly one of file or udp")
        if self.radar is not None and max(int(v) for v in self.radar.split("/")) > 255:
            raise FieldError("radar", f"SAC and SIC must be 0..255 (got {self.radar!r})")
        if self.udp is not None:
            check_port("udp", self.udp)

    def sac_sic(self) -> tuple[int, int] | None:
        """``radar`` as (SAC, SIC), or None."""
        if self.radar is None:
            return None
        sac, sic = self.radar.split("/")
        return int(sac), int(sic)


class TrackFeed(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A partner's own national tracker, feeding its system tracks as ASTERIX CAT062: a
    recording (``file``, replayed on the scenario clock) or a UDP socket (``udp``, live
    nodes only). Its tracks are the partner's tracks, released under its policy like its
    own tracker's. A track's covariance comes from its records' I062/500 estimated
    accuracies; where a record has none (or part), the 1-σ errors below stand in."""

    id: Name  # names the feed (the tracks' sensor, for the policy); never released
    file: str | None = None  # .ast or .pcap recording, relative to the scenario file
    udp: HostPort | None = None  # 'host:port' to listen on; a multicast group is joined
    iface: IPv4 | None = None  # udp multicast: join on this interface (default: the system's)
    source: SacSic | None = None  # read only this tracker's (SAC/SIC) tracks (default: all)
    edition: Literal["1.18", "0.17"] = "1.18"  # CAT062 edition the tracker sends
    start_s: Annotated[float, Meta(ge=0.0)] = 0.0  # file: scenario time of its first record
    max_age_s: Pos = 12.0  # a track not updated for this long is dropped
    sigma_m: Pos = 150.0  # 1-σ horizontal position error
    sigma_alt_m: Pos = 300.0  # 1-σ altitude error (5 km where a record has no altitude)
    sigma_vel_mps: Pos = 10.0  # 1-σ velocity error per axis (250 m/s where none is sent)

    def __post_init__(self) -> None:
        if (self.file is None) == (self.udp is None):
            raise FieldError("", "give exactly one of file or udp")
        if self.source is not None and max(int(v) for v in self.source.split("/")) > 255:
            raise FieldError("source", f"SAC and SIC must be 0..255 (got {self.source!r})")
        if self.udp is not None:
            check_port("udp", self.udp)

    def sac_sic(self) -> tuple[int, int] | None:
        """``source`` as (SAC, SIC), or None."""
        if self.source is None:
            return None
        sac, sic = self.source.split("/")
        return int(sac), int(sic)


class Sensor(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One radar: site, coverage, detection model and measurement noise.

    With ``asterix``, the radar is real: its plots come from that feed and the detection
    model is not used (coverage and noise still are)."""

    id: Name  # unique across the scenario; never released
    kind: Literal["early_warning", "sector"] = "sector"
    site: Point
    range_km: Pos = 400.0  # instrumented range
    scan_s: Pos = 5.0  # revisit period
    sector: Sector | None = None  # None: 360°
    min_el_deg: Annotated[float, Meta(ge=-5.0, le=89.0)] = -1.0  # below 0 sees down from a hill
    max_el_deg: Annotated[float, Meta(gt=0.0, le=90.0)] = 85.0
    ref_range_km: Pos = 300.0  # range where a 1 m² target gives ref_snr_db
    ref_snr_db: float = 13.0  # mean SNR of 1 m² at ref_range_km
    pfa: Annotated[float, Meta(gt=0.0, lt=1.0)] = 1e-6  # false-alarm probability per cell
    clutter_per_scan: NonNeg = 2.0  # mean Poisson false plots per scan
    sigma_range_m: Pos = 75.0
    sigma_az_deg: Pos = 0.2
    sigma_el_deg: Pos = 0.3
    # 1-σ range-rate (Doppler) noise, m/s; None: the radar measures no range rate
    sigma_range_rate_mps: Pos | None = None
    latency_s: Annotated[float, Meta(ge=0.0, le=60.0)] = 0.0  # scan → partner tracker, s
    latency_jitter_s: Annotated[float, Meta(ge=0.0, le=60.0)] = 0.0  # + uniform [0, this) s
    asterix: AsterixFeed | None = None  # a real radar's feed instead of the simulator

    def __post_init__(self) -> None:
        if self.max_el_deg <= self.min_el_deg:
            raise ValueError(
                f"max_el_deg ({self.max_el_deg}) must exceed min_el_deg ({self.min_el_deg})"
            )


class FireUnitParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Overrides of a fire-unit type's public-figure defaults (see ``engage/units.py``)."""

    min_range_km: NonNeg | None = None  # closest intercept, slant range from the site
    max_range_km: Pos | None = None  # farthest intercept, slant range from the site
    min_alt_km: NonNeg | None = None  # lowest intercept altitude
    max_alt_km: Pos | None = None  # highest intercept altitude
    speed_mps: Pos | None = None  # mean interceptor fly-out speed
    launchers: Annotated[int, Meta(ge=1, le=100)] | None = None
    rounds_per_launcher: Annotated[int, Meta(ge=1, le=100)] | None = None
    reloads: Annotated[int, Meta(ge=0, le=100)] | None = None  # reloads per launcher held
    reload_s: Pos | None = None  # time to reload an empty launcher
    channels: Annotated[int, Meta(ge=1, le=100)] | None = None  # engagements at once
    reaction_s: NonNeg | None = None  # decision to launch
    basket_km: Pos | None = None  # the interceptor's seeker finds the threat within this
    cost_usd: NonNeg | None = None  # per interceptor
    pk: dict[ThreatKind, Prob] | None = None  # single-shot kill probability per class


class FireUnit(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One fire unit (battery, or a combat air patrol's station) of a partner."""

    id: Name  # unique across the scenario; never sent to another partner
    type: UnitType
    site: Point  # launcher site, or the patrol's station
    params: FireUnitParams = FireUnitParams()


class Partner(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A coalition partner, known only by its pseudonym, with its own sensors and policy."""

    name: Name  # pseudonym on the network
    sensors: list[Sensor] = []
    policy: str | None = None  # policy YAML path, relative to the scenario file
    # its own tracker's system tracks as ASTERIX CAT062, released as its tracks
    system_tracks: list[TrackFeed] = []
    fire_units: list[FireUnit] = []
    # engagement policy YAML path, relative to the scenario file; None: the default
    # (defend own areas, accept advice for others' areas, hold fire on nothing)
    engagement_policy: str | None = None
    release_s: Pos = 5.0  # period of track release and own assessment
    status_s: Pos = 30.0  # health Status to the coordinator at least this often (and on change)
    # ADS-B ground receivers at the partner's sensor sites hear aircraft within this, km
    # (and above the receiver's horizon); 0: the partner receives no ADS-B
    adsb_range_km: NonNeg = 250.0
    # recorded ADS-B its receivers got: OpenSky CSV (.csv) or ASTERIX CAT021 (.ast, .pcap),
    # relative to the scenario file, on the scenario's UTC clock (CAT021 times of day fall
    # on the UTC day of start_utc); beside the simulated civil traffic's reports
    adsb_files: list[str] = []
    # live ADS-B its receivers get: ASTERIX CAT021 datagrams on UDP, 'host:port' to listen on
    # (a multicast group is joined); live nodes only (mead node, mead up), times of day put
    # on the scenario clock as a live radar's are (the first report at its arrival)
    adsb_udp: list[HostPort] = []
    adsb_udp_iface: IPv4 | None = None  # multicast groups of adsb_udp joined on this interface
    # membership: "contributing" releases tracks under its policy, "receive_only" releases
    # nothing but gets the picture and warnings; None: derived (see runtime.wiring.role)
    role: Literal["contributing", "receive_only"] | None = None
    deception: Deception | None = None  # a lying or miscalibrated partner (simulation)

    def __post_init__(self) -> None:
        for k, hp in enumerate(self.adsb_udp):
            check_port(f"adsb_udp[{k}]", hp)
        if self.role == "contributing" and not self.sensors and not self.system_tracks:
            raise ValueError(
                f"partner {self.name!r} has role contributing but no sensors to contribute "
                "(give it sensors or system_tracks, or role receive_only)"
            )


class Circle(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A circular area."""

    lat_deg: Lat
    lon_deg: Lon
    radius_km: Pos


class Shape(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A place on the ground: a circle, or a polygon of at least 3 (lat, lon) points, deg.

    The one circle-or-polygon rule, for defended areas and policy regions alike.
    """

    circle: Circle | None = None
    polygon: tuple[tuple[Lat, Lon], ...] | None = None

    def __post_init__(self) -> None:
        if (self.circle is None) == (self.polygon is None):
            raise FieldError("", "give exactly one of circle or polygon")
        if self.polygon is not None and len(self.polygon) < 3:
            raise FieldError("polygon", f"needs at least 3 points (got {len(self.polygon)})")


class DefendedArea(Shape, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An asset or region a partner defends: circle or polygon (lat, lon pairs)."""

    name: Name
    owner: Name  # pseudonym of the owning partner
    value: Annotated[float, Meta(ge=0.0, le=100.0)] = 1.0


class ThreatParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Overrides of a threat class's public-figure defaults (see ``sim/threats.py``)."""

    speed_mps: Pos | None = None  # cruise/drone ground speed
    altitude_m: NonNeg | None = None  # cruise/drone flight altitude
    rcs_m2: Pos | None = None  # mean radar cross-section
    burn_s: Pos | None = None  # ballistic/rocket boost duration
    gamma_deg: Annotated[float, Meta(gt=5.0, lt=85.0)] | None = None  # burnout flight-path angle
    ballistic_coeff_kg_m2: Pos | None = None  # m/(Cd·A) of the re-entering body


class Raid(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A salvo of one threat class from one launch area at one or more target areas."""

    name: Name
    threat: ThreatKind
    count: Annotated[int, Meta(ge=1, le=5000)]
    launch: Circle  # launch points are drawn uniformly in it
    targets: list[Name]  # defended-area names, used round-robin
    first_launch_s: NonNeg = 0.0  # after scenario start
    spacing_s: NonNeg = 10.0  # between successive launches
    via: list[tuple[Lat, Lon]] = []  # route waypoints for cruise/drone
    params: ThreatParams = ThreatParams()

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("targets must name at least one defended area")


Offset = Annotated[float, Meta(ge=-100_000.0, le=100_000.0)]
"""A position offset along one local axis, m (at most 100 km)."""


class Deception(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a compromised or miscalibrated partner does to every track it releases
    (simulation): it shifts them by a constant offset and adds ghosts — fake threats it
    releases as if its radars held them. Its own warnings still use its true tracks."""

    # offset of every released position (ghosts included), m, in the local east / north /
    # up frame at its first sensor's site
    offset_east_m: Offset = 0.0
    offset_north_m: Offset = 0.0
    offset_up_m: Offset = 0.0
    ghosts: list[Raid] = []  # fake raids released as tracks (flown like real ones, unseen)
    ghost_sigma_m: Pos = 200.0  # 1-σ position error claimed for ghost tracks, m


class Airport(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A civil airport (ICAO code for readability only)."""

    code: Annotated[str, Meta(min_length=3, max_length=4)]
    lat_deg: Lat
    lon_deg: Lon
    # departures + arrivals per hour flown to / from the other airports (``sim/truth.py``)
    movements_per_hour: Annotated[float, Meta(ge=0.0, le=120.0)] = 0.0


class Civil(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Generated civil traffic: great-circle flights between random airport pairs, plus the
    departures and arrivals of airports with ``movements_per_hour``, and their ADS-B."""

    flights: Annotated[int, Meta(ge=0, le=20000)] = 0
    airports: list[Airport] = []
    cruise_alt_m: Pos = 10_700.0
    cruise_speed_mps: Pos = 230.0
    min_distance_km: NonNeg = 300.0  # skip pairs closer than this
    rcs_m2: Pos = 30.0
    takeoff_speed_mps: Pos = 80.0  # ground speed at take-off and touchdown (ramps to cruise)
    climb_mps: Pos = 10.0  # climb rate after take-off
    descent_mps: Pos = 8.0  # descent rate before touchdown
    adsb_fraction: Prob = 0.95  # share of civil flights with an ADS-B transponder
    adsb_period_s: Pos = 5.0  # one position report per aircraft per this, at each receiver
    adsb_sigma_m: Pos = 30.0  # 1-σ horizontal position error (NACp-like)
    adsb_alt_sigma_m: Pos = 15.0  # 1-σ barometric altitude error
    adsb_vel_sigma_mps: Pos = 2.0  # 1-σ velocity error per axis (NACv-like)

    def __post_init__(self) -> None:
        if self.flights > 0 and len(self.airports) < 2:
            raise ValueError(f"flights ({self.flights}) need at least 2 airports")
        busy = [a.code for a in self.airports if a.movements_per_hour > 0]
        if busy and len(self.airports) < 2:
            raise ValueError(
                f"airport {busy[0]!r} has movements_per_hour but needs at least one other "
                "airport to fly to and from (got 1 airport)"
            )


class Coordinator(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The sponsor's node: fuses released tracks, assesses threats, warns partners."""

    name: Name = "C0"
    assess_s: Pos = 2.0  # assessment period
    # check partners' data: shift a partner's tracks by its estimated registration bias
    # before fusion, and hold back from warnings a track inside another contributing
    # partner's declared radar coverage that no other partner holds; false: believe every
    # partner as it reports (for comparison)
    check_partners: bool = True
    # such a track waits this long for another partner to hold it, then is judged suspect
    # (a ghost), s; one that was believed before it came into the other's coverage (a
    # missile flying in) is warned on meanwhile: a radar takes 40-50 s to acquire a
    # missile entering its range (small.yaml)
    corroborate_s: Annotated[float, Meta(gt=0.0, le=600.0)] = 90.0


RadarState = Literal["operational", "degraded", "down"]
"""Health of a radar: full service, reduced range, or no scans at all."""


class Outage(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A scheduled loss of service of one radar, in scenario time [``start_s``, ``end_s``)."""

    sensor: Name  # the radar's id (a sensor of some partner)
    start_s: NonNeg  # scenario s
    end_s: Pos  # scenario s, > start_s
    state: Literal["degraded", "down"] = "down"
    range_fraction: Annotated[float, Meta(gt=0.0, lt=1.0)] = 0.5  # degraded: reach kept

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s:
            raise FieldError(
                "end_s", f"must exceed start_s ({self.start_s:g}) (got {self.end_s:g})"
            )


class Link(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Latency and loss of a directed link (``src``→``dst``; ``*`` matches any node)."""

    src: str = "*"
    dst: str = "*"
    latency_ms: NonNeg = 150.0
    jitter_ms: NonNeg = 0.0
    loss: Prob = 0.0


class Scenario(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole coalition scenario."""

    name: Name
    start_utc: str = "2024-04-13T20:00:00Z"  # ISO-8601 UTC start of scenario time 0
    duration_s: Pos = 3600.0
    tick_s: Pos = 1.0  # simulation step
    seed: int = 1
    partners: list[Partner]
    coordinator: Coordinator = Coordinator()
    defended_areas: list[DefendedArea] = []
    raids: list[Raid] = []
    civil: Civil = Civil()
    links: list[Link] = []  # first match wins; default 150 ms, no loss
    # folder of SRTM .hgt terrain tiles, relative to the scenario file (coverage maps'
    # terrain masking); None: a smooth earth
    dem_dir: str | None = None
    outages: list[Outage] = []  # radars down or degraded, in scenario time

    def __post_init__(self) -> None:
        names = [p.name for p in self.partners]
        _unique(names, "partners[].name")
        if self.coordinator.name in names:
            raise ValueError(f"coordinator.name {self.coordinator.name!r} is also a partner name")
        _unique([s.id for p in self.partners for s in p.sensors], "sensors[].id")
        _unique([u.id for p in self.partners for u in p.fire_units], "fire_units[].id")
        _unique([a.name for a in self.defended_areas], "defended_areas[].name")
        for a in self.defended_areas:
            if a.owner not in names:
                raise ValueError(
                    f"defended area {a.name!r} has owner {a.owner!r}, not a partner "
                    f"(known: {', '.join(names)})"
                )
        areas = {a.name for a in self.defended_areas}
        for r in self.raids:
            bad = [t for t in r.targets if t not in areas]
            if bad:
                raise ValueError(
                    f"raid {r.name!r} targets unknown defended area {bad[0]!r} "
                    f"(known: {', '.join(sorted(areas))})"
                )
        self._check_outages()
        self._check_deceptions(areas)
        self.start_epoch_s()

    def _check_outages(self) -> None:
        sensors = {s.id for p in self.partners for s in p.sensors}
        windows: dict[str, list[tuple[float, float]]] = {}
        for i, o in enumerate(self.outages):
            if o.sensor not in sensors:
                raise FieldError(
                    f"outages[{i}].sensor",
                    f"unknown radar {o.sensor!r} (known: {', '.join(sorted(sensors))})",
                )
            for a, b in windows.get(o.sensor, []):
                if o.start_s < b and a < o.end_s:
                    raise FieldError(
                        f"outages[{i}]",
                        f"overlaps another outage of {o.sensor!r} ({a:g}-{b:g} s)",
                    )
            windows.setdefault(o.sensor, []).append((o.start_s, o.end_s))

    def _check_deceptions(self, areas: set[str]) -> None:
        for i, p in enumerate(self.partners):
            for j, g in enumerate(p.deception.ghosts if p.deception else ()):
                bad = [t for t in g.targets if t not in areas]
                if bad:
                    raise FieldError(
                        f"partners[{i}].deception.ghosts[{j}].targets",
                        f"unknown defended area {bad[0]!r} (known: {', '.join(sorted(areas))})",
                    )
            if p.deception is not None and not p.sensors:
                raise FieldError(
                    f"partners[{i}].deception",
                    f"partner {p.name!r} has no sensors: it releases nothing to lie about",
                )

    def radar_state(self, sensor: str, t: float) -> tuple[RadarState, float]:
        """State of radar ``sensor`` at scenario time ``t`` and the fraction of its range
        it keeps (1 operational, ``range_fraction`` degraded, 0 down)."""
        for o in self.outages:
            if o.sensor == sensor and o.start_s <= t < o.end_s:
                return o.state, (o.range_fraction if o.state == "degraded" else 0.0)
        return "operational", 1.0

    def start_epoch_s(self) -> float:
        """``start_utc`` as UTC seconds since the epoch (scenario time 0)."""
        try:
            when = datetime.fromisoformat(self.start_utc)
        except ValueError:
            when = None
        if when is None or when.utcoffset() != timedelta(0):
            raise ValueError(
                f"start_utc must be ISO-8601 UTC such as 2024-04-13T20:00:00Z "
                f"(got {self.start_utc!r})"
            )
        return when.timestamp()

    def partner(self, name: str) -> Partner:
        """The partner with pseudonym ``name``."""
        for p in self.partners:
            if p.name == name:
                return p
        raise KeyError(name)


def _unique(values: list[str], field: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{field} must be unique ({v!r} appears twice)")
        seen.add(v)
