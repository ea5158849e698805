"""Engagement support: fire units, engagement windows, weapon–target advice, sovereign decisions.

The coordinator *advises* (``planner``), each partner *decides* (``fire_control``) by its
own engagement policy (``policy``); the weapon–target assignment (``assign``) and the
engagement windows (``windows``) are kernels both use.
"""
