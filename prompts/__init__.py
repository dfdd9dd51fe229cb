"""Jinja2 prompt templates, shipped as package data (loaded by ``ultrajudge.judge.templates``)."""
