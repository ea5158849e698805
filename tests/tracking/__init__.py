"""Tests of the tracking stage."""
