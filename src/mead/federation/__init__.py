"""federation stage."""
