"""A lying or miscalibrated partner: what it does to its tracks on the way out (share stage).

A partner compromised, or with a radar whose site or north alignment is wrong, does not
change what its own radars see: it changes what it *releases*. :class:`Falsifier` sits in
the partner's release path, between its tracker's report and its releasability policy,
where such a node would do it:

- every released position is shifted by a constant offset (``offset_east_m`` …, in the
  local frame at the partner's first sensor's site, as one ECEF vector);
- ghosts — raids flown like real ones (``mead.sim.truth``) that no radar sees — are added
  as confirmed tracks under ids shaped like the tracker's, with the class of their raid and
  a plausible covariance, and dropped when they land.

The partner's own assessment and warnings still use its true tracks. The scenario says who
lies and how (``Partner.deception``); nothing here runs unless it does.
"""

from __future__ import annotations

import msgspec
import numpy as np

from mead import geo
from mead.messages import TrackClass
from mead.scenario.schema import Civil, Scenario
from mead.sim.base import TruthTable
from mead.sim.truth import simulate_truth
from mead.tracking.base import TrackReport
from mead.types import Array

GHOST_NUMBER = 900_000
"""Ghost track ids count up from this number (the tracker's ids are ``<partner>-T000042``)."""

GHOST_SIGMA_V_MPS = 30.0
"""1-σ velocity error claimed for ghost tracks, m/s."""

GHOST_QUALITY = 0.9
"""Quality claimed for ghost tracks (0..1)."""


def ghost_truth(sc: Scenario, partner: str, seed: int) -> TruthTable:
    """The trajectories of partner ``partner``'s ghosts (scenario time), from its
    ``deception.ghosts`` raids flown by the truth simulator (no civil traffic);
    deterministic for ``seed``. Empty when the partner makes up nothing."""
    p = sc.partner(partner)
    raids = list(p.deception.ghosts) if p.deception else []
    only = msgspec.structs.replace(sc, raids=raids, civil=Civil())
    k = [q.name for q in sc.partners].index(partner)
    return simulate_truth(only, np.random.default_rng(np.random.SeedSequence([seed, 14, k])))


class Falsifier:
    """Shifts a partner's released tracks and adds its ghosts (see the module docstring).

    Parameters
    ----------
    partner : the lying partner's pseudonym (prefix of its ghost ids).
    offset_ecef : (3,) ECEF offset added to every released position, m.
    ghosts : ghost trajectories, scenario time.
    sigma_m : 1-σ position error claimed for ghost tracks, m.
    sensors : the sensor ids ghosts claim to be seen by.
    epoch_s : wire time of scenario time 0, UTC s.
    """

    def __init__(
        self,
        partner: str,
        offset_ecef: Array,
        ghosts: TruthTable,
        sigma_m: float,
        sensors: tuple[str, ...],
        epoch_s: float,
    ) -> None:
        self.offset_ecef = np.asarray(offset_ecef, dtype=np.float64).reshape(3)  # m
        self.ghosts = ghosts  # scenario s
        self.ids = [f"{partner}-T{GHOST_NUMBER + i:06d}" for i in range(len(ghosts))]
        self.cls: list[TrackClass] = [str(k) for k in ghosts.kind]  # type: ignore[misc]
        var = np.r_[np.full(3, sigma_m**2), np.full(3, GHOST_SIGMA_V_MPS**2)]
        self.P = np.diag(var)  # (6, 6) claimed covariance, m², m²/s²
        self.sensors = sensors
        self.epoch_s = epoch_s  # UTC s
        self._live = np.empty(0, np.intp)  # ghosts released last time

    @classmethod
    def of_partner(cls, sc: Scenario, partner: str, seed: int) -> Falsifier | None:
        """The falsifier of ``partner`` as its scenario ``deception`` says, or None."""
        p = sc.partner(partner)
        d = p.deception
        if d is None:
            return None
        site = p.sensors[0].site
        enu = np.array([d.offset_east_m, d.offset_north_m, d.offset_up_m])
        offset = geo.enu_rotation(site.lat_deg, site.lon_deg).T @ enu
        ghosts = ghost_truth(sc, partner, seed)
        sensors = (p.sensors[0].id,)
        return cls(partner, offset, ghosts, d.ghost_sigma_m, sensors, sc.start_epoch_s())

    def falsify(
        self, now: float, rep: TrackReport, classes: list[TrackClass]
    ) -> tuple[TrackReport, list[TrackClass]]:
        """The report (and its classes) as the partner releases it at wire time ``now``:
        positions shifted, ghosts alive at ``now`` added, ghosts landed since the last
        release dropped."""
        alive, xg = self.ghosts.states_at(now - self.epoch_s)
        gone = np.setdiff1d(self._live, alive)
        self._live = alive
        x = np.concatenate([rep.x, xg])
        x[:, :3] += self.offset_ecef
        out = TrackReport(
            t=rep.t,
            ids=rep.ids + [self.ids[i] for i in alive.tolist()],
            x=x,
            P=np.concatenate([rep.P, np.broadcast_to(self.P, (alive.size, 6, 6))]),
            quality=np.concatenate([rep.quality, np.full(alive.size, GHOST_QUALITY)]),
            sensors=rep.sensors + [self.sensors] * alive.size,
            deleted=rep.deleted + [self.ids[i] for i in gone.tolist()],
        )
        return out, classes + [self.cls[i] for i in alive.tolist()]


__all__ = ["GHOST_NUMBER", "Falsifier", "ghost_truth"]
