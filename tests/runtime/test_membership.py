"""Receive-only members: no radar (or nothing released), yet their picture and warnings."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from mead.errors import ConfigError
from mead.metrics.campaign import run_seed
from mead.runtime.wiring import partner_roles, policies
from mead.scenario import load_scenario
from mead.scenario.loader import decode_yaml
from mead.scenario.schema import Scenario

TINY = Path(__file__).parents[1] / "data" / "scenarios" / "tiny.yaml"


def test_a_partner_without_radar_gets_the_picture_and_its_warnings() -> None:
    sc = load_scenario(TINY)
    assert partner_roles(sc, TINY) == {
        "P1": "contributing", "P2": "contributing", "P3": "receive_only"
    }  # fmt: skip
    s = run_seed(sc, TINY, 7, jobs=2)
    town = s["areas"]["Town"]
    assert town["owner"] == "P3" and town["threats"] == 2
    assert town["alliance"]["warned"] == 2  # warned from the others' radars
    assert town["national"]["warned"] == 0  # alone it sees nothing
    assert s["nodes"]["alliance"]["P3"]["pictures"] > 0  # its filtered picture
    assert s["nodes"]["alliance"]["P3"].get("released_tracks", 0) == 0
    assert s["roles"]["P3"] == "receive_only"


def test_declared_receive_only_releases_nothing() -> None:
    sc = load_scenario(TINY)
    p2 = msgspec.structs.replace(sc.partner("P2"), role="receive_only")
    sc = msgspec.structs.replace(sc, partners=[sc.partner("P1"), p2, sc.partner("P3")])
    assert policies(sc, TINY)["P2"].rules == ()
    assert partner_roles(sc, TINY)["P2"] == "receive_only"


def test_contributing_without_sensors_is_an_error() -> None:
    text = TINY.read_text().replace("  - name: P3\n", "  - name: P3\n    role: contributing\n")
    with pytest.raises(ConfigError, match="P3.*contributing but no sensors"):
        decode_yaml(text, Scenario, "tiny.yaml")
