"""ultrajudge."""
