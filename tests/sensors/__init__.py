"""Tests of the sensors stage."""
