"""The ``ultrajudge`` command line: one Typer app over ``judge``, ``analysis`` and ``generators``.

The CLI lives in its own package (not in ``judge``) so that ``judge`` keeps
depending on nothing else in the project while the CLI can offer commands from
all three packages.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
