"""threat stage."""
