"""Tests of mead.metrics.evaluation's figures that need no whole run."""

from __future__ import annotations

from mead.events import AlertReceived
from mead.metrics.evaluation import salvos


def _received(node: str, alert_id: str, salvo: str, state: str = "issued") -> AlertReceived:
    return AlertReceived(
        alert_id=alert_id,
        state=state,  # type: ignore[arg-type]
        t=0.0,
        recipient=node,
        area="North",
        system_track=1,
        threat_class="ballistic",
        impact_lat_deg=33.0,
        impact_lon_deg=35.0,
        impact_radius_m=1e3,
        t_impact=300.0,
        tgo_s=300.0,
        salvo=salvo,
        node=node,
        t_recv=0.0,
        via="C0",
    )


def test_salvos_group_alerts_by_first_alert_per_receiving_node():
    events = [
        _received("P1", "C0-1-North", ""),
        _received("P1", "C0-2-North", "C0-1-North"),
        _received("P1", "C0-3-North", "C0-1-North"),
        _received("P1", "C0-3-North", "C0-1-North", state="updated"),  # not a new alert
        _received("P1", "C0-9-North", ""),  # alone
        _received("P2", "C0-4-South", ""),
        _received("P2", "C0-5-South", "C0-4-South"),
    ]
    assert salvos(events) == {"salvos": 2, "largest": 3}
    assert salvos([]) == {"salvos": 0, "largest": 0}
