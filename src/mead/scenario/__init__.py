"""Scenarios as data: the schema of a coalition run and its loader."""

from mead.scenario.loader import decode_yaml, load_scenario, load_yaml
from mead.scenario.schema import Scenario

__all__ = ["Scenario", "decode_yaml", "load_scenario", "load_yaml"]
