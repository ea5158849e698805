"""Coverage planning: where the alliance's radars see a threat class at each altitude layer,
and where nobody does (``mead coverage``). Downstream of the stages: it reuses the
simulator's radar model (``mead.sensors``) and adds terrain from SRTM tiles."""

from mead.coverage.dem import Dem
from mead.coverage.layers import LAYERS_M, Coverage, Grid, compute, layer_name

__all__ = ["LAYERS_M", "Coverage", "Dem", "Grid", "compute", "layer_name"]
