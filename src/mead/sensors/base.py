"""The sensor contract: a scan is one radar revisit, its plots in the radar's polar frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mead.types import Array, Meas


@dataclass(frozen=True)
class Scan:
    """Plots (detections) of one radar revisit, all valid at time ``t``.

    ``z`` is measured [range m, azimuth rad (from north, clockwise), elevation rad] in the
    radar's local ENU frame at ``site``, and a radar that measures Doppler appends the range
    rate (m/s, > 0 receding) as a fourth column; ``sigma`` is the 1-σ noise of each
    component.
    ``truth`` says which truth object made each plot (−1: clutter) and is for scoring only;
    trackers must not read it.
    """

    sensor_id: str
    partner: str  # owning partner's pseudonym
    t: float  # scenario s
    site_lat_deg: float
    site_lon_deg: float
    site_alt_m: float
    z: Meas  # (M, 3) [m, rad, rad], or (M, 4) [m, rad, rad, m/s] with range rate
    sigma: Array  # (3,) [m, rad, rad], or (4,) [m, rad, rad, m/s]
    truth: np.ndarray  # (M,) int, −1 for clutter
    delay_s: float = 0.0  # from ``t`` to the scan's arrival at the partner's tracker, s

    @property
    def t_arrival(self) -> float:
        """When the scan reaches the partner's tracker, scenario s."""
        return self.t + self.delay_s


class ScanFeed(Protocol):
    """A live sensor whose scans arrive while the node runs (e.g. a radar's ASTERIX on UDP),
    beside the scans known in advance that a partner reads in arrival order."""

    def ready(self, t: float) -> list[Scan]:
        """The scans that reached the partner by scenario time ``t``, not handed out before."""
        ...
