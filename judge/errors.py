"""The one error type for what the user got wrong, and its families.

Library code raises a :class:`UserError` (or a subclass) when an input it was given -- a
file, a column, an option, a config file, a results store, a credential -- is wrong, and the
message says which one and what to do. The CLI turns exactly these into one line and exit
code 2; every other exception is a bug and keeps its traceback. Each family also derives
from the builtin it replaced (``ValueError``, ``RuntimeError``), so code that caught those
keeps working.

>>> issubclass(ConfigError, UserError) and issubclass(ConfigError, ValueError)
True
"""

from __future__ import annotations

__all__ = ["AuthError", "ConfigError", "DataError", "StoreError", "UserError", "read_yaml"]

from pathlib import Path
from typing import Any


class UserError(Exception):
    """Something the user supplied is wrong; the message names it and says what to do."""


class ConfigError(UserError, ValueError):
    """An option, a config file or a value in it is invalid."""


class DataError(UserError, ValueError):
    """Input data is missing or has the wrong shape; the message says what to do."""


class StoreError(UserError, RuntimeError):
    """The results store is damaged or in use by another run; the message names the file."""


class AuthError(UserError, RuntimeError):
    """The server refused the credentials (HTTP 401/403): final, never retried per row."""


def read_yaml(path: str | Path, what: str) -> Any:
    """Parse a user's YAML file safely: a syntax error, a ``!!python`` tag (refused by the
    safe loader) or an unreadable file is a :class:`ConfigError` naming ``path`` and the line.
    ``what`` says what the file is for (``"jury file"``)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {str(path)!r}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{what} {str(path)!r}{where}: not valid YAML ({problem}); only plain YAML "
            "(no !!python tags) is read"
        ) from None
