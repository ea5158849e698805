"""Interop: MEAD's picture in the formats other systems read (ASTERIX out)."""
