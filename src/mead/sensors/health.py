"""Radar health: which of a partner's radars serve, degrade or are down, over time (sense stage).

In simulation the states come from the scenario's scheduled ``outages`` (the same schedule
that removes or trims the scans, :func:`mead.sensors.simulate.simulate_scans`); a radar
that is a live ASTERIX feed tells its own (:class:`SelfReporting`, e.g.
:class:`mead.sensors.asterix_feed.UdpFeed`: its CAT034 I034/050, and silence). A partner
node turns them into ``health`` events and into the :class:`~mead.messages.Status` it sends
the coordinator, told only as far as its policy says of its sensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mead.messages import RadarStatus
from mead.scenario.schema import Sensor

StateAt = Callable[[str, float], tuple[str, float]]
"""(radar id, scenario s) → (state, fraction of range kept), e.g. ``Scenario.radar_state``."""


@runtime_checkable
class SelfReporting(Protocol):
    """A live sensor feed that judges its radar's state itself."""

    sensor: Sensor

    def radar_state(self, t: float) -> tuple[str, float]:
        """(state, fraction of range kept) at scenario time ``t``."""
        ...


def with_feeds(state_at: StateAt, feeds: Iterable[object]) -> StateAt:
    """``state_at``, except for the radars whose live feed reports its own state."""
    own = {f.sensor.id: f for f in feeds if isinstance(f, SelfReporting)}
    if not own:
        return state_at

    def at(radar: str, t: float) -> tuple[str, float]:
        feed = own.get(radar)
        return feed.radar_state(t) if feed is not None else state_at(radar, t)

    return at


@dataclass(frozen=True)
class RadarHealth:
    """The radars of one partner and where their states come from.

    Parameters
    ----------
    radars
        The partner's radars (id, site, range).
    state_at
        Their state at a scenario time.
    """

    radars: Sequence[Sensor]
    state_at: StateAt

    def states(self, t: float) -> tuple[tuple[str, float], ...]:
        """(state, reach) of every radar at scenario time ``t``, in ``radars`` order."""
        return tuple(self.state_at(r.id, t) for r in self.radars)

    def told(
        self, states: tuple[tuple[str, float], ...], ids: bool, sites: bool
    ) -> tuple[RadarStatus, ...]:
        """The radars' status as released: real ids only with ``ids``, coverage (site and
        range) only with ``sites``; else ``radar-<k>`` and the state alone."""
        out = []
        for k, (r, (state, reach)) in enumerate(zip(self.radars, states, strict=True)):
            cover = {}
            if sites:
                cover = dict(lat_deg=r.site.lat_deg, lon_deg=r.site.lon_deg, range_km=r.range_km)
            out.append(
                RadarStatus(radar=r.id if ids else f"radar-{k}", state=state, reach=reach, **cover)
            )
        return tuple(out)


def node_state(radars: Sequence[RadarStatus]) -> str:
    """A partner node's state from its radars': ``degraded`` if any is not operational."""
    return "operational" if all(r.state == "operational" for r in radars) else "degraded"


__all__ = ["RadarHealth", "SelfReporting", "StateAt", "node_state", "with_feeds"]
