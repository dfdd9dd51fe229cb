"""ultrajudge/commands."""
