"""Validate a YAML file against its model; every problem becomes ``file:line: key.path: what``.

pydantic reports each problem with a location in the *model* (which may hold union
branch labels, ``('filters', 'contamination', 'float')``); walking that location through the
file's data gives the key path the user wrote and, through :class:`YamlSource`, its line.
Several problems make one line too (the CLI prints one line per error)::

    p.yaml:3: limit: expected an integer, got '3' (a string: write it without quotes)
    p.yaml: 2 problems: line 3: limit: ...; line 7: score.temperature: ...

:func:`located` gives the same shape to the :class:`ConfigError` that building the frozen
configs raises (values that are wrong only together, such as ``n: 2`` with a greedy
generator).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ultrajudge.judge.errors import ConfigError
from ultrajudge.pipeline.yaml_source import Key, YamlSource, format_path

__all__ = ["located", "validated"]

M = TypeVar("M", bound=BaseModel)

_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true/false",
    "dict_type": "a mapping of KEY: VALUE",
    "model_type": "a mapping of KEY: VALUE",
    "list_type": "a list",
    "none_required": "null",
}
_BOUNDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}


def validated(model: type[M], source: YamlSource, what: str) -> M:
    """``source``'s data as ``model``, or a :class:`ConfigError` naming every problem."""
    if source.data is None:
        raise ConfigError(
            f"{source.path}: the {what} is empty; see `ultrajudge schema` for its keys"
        )
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        problems = _problems(exc, source, what)
    if len(problems) == 1:
        return _raise(source, *problems[0])
    listed = "; ".join(f"line {line}: {_at(keys)}{message}" for line, keys, message in problems)
    raise ConfigError(f"{source.path}: {len(problems)} problems: {listed}")


@contextmanager
def located(source: YamlSource, keys: Sequence[Key]) -> Iterator[None]:
    """Prefix a :class:`ConfigError` raised inside with ``file:line: key.path:``."""
    try:
        yield
    except ConfigError as exc:
        _raise(source, source.line_of(keys) if keys else None, tuple(keys), str(exc))


def _raise(source: YamlSource, line: int | None, keys: tuple[Key, ...], message: str) -> Any:
    where = f"{source.path}:{line}" if line is not None else str(source.path)
    raise ConfigError(f"{where}: {_at(keys)}{message}") from None


def _at(keys: Sequence[Key]) -> str:
    return f"{format_path(keys)}: " if keys else ""


Problem = tuple[int | None, tuple[Key, ...], str]


def _problems(exc: ValidationError, source: YamlSource, what: str) -> list[Problem]:
    """One problem per key path, in the file's order; a union's branches are merged."""
    grouped: dict[tuple[Key, ...], list[dict[str, Any]]] = {}
    for details in exc.errors():
        error: dict[str, Any] = dict(details)
        keys, missing = _data_path(source.data, error["loc"])
        if missing is not None and error["type"] == "missing":
            error = {**error, "ctx": {"key": missing}}
        grouped.setdefault(keys, []).append(error)
    problems = []
    for keys, errors in grouped.items():
        message = _message(errors, what if not keys else None)
        line = source.line_of(keys)
        if errors[0]["type"] == "unknown_key":  # point at the first unknown key
            line = source.line_of((*keys, errors[0]["ctx"]["keys"][0])) or line
        problems.append((line, keys, message))
    return sorted(problems, key=lambda p: p[0] or 0)


def _data_path(data: Any, loc: Sequence[Key]) -> tuple[tuple[Key, ...], Key | None]:
    """The part of ``loc`` that names keys and items of ``data`` (branch labels dropped), and
    the key that is missing, if the location ends at one."""
    keys: list[Key] = []
    for item in loc:
        if _has(data, item):
            data = data[item]
        elif isinstance(data, dict) and not str(item).startswith("as:"):
            return tuple(keys), item  # a key the mapping lacks
        else:
            continue  # a union branch label ('float', "literal['auto']", 'as:spec')
        keys.append(item)
    return tuple(keys), None


def _has(data: Any, item: Key) -> bool:
    if isinstance(data, dict):
        return item in data
    return isinstance(data, list) and isinstance(item, int) and 0 <= item < len(data)


def _message(errors: list[dict[str, Any]], what: str | None) -> str:
    first = errors[0]
    kind, ctx, value = first["type"], first.get("ctx") or {}, first.get("input")
    if kind == "unknown_key":
        return _unknown(ctx["keys"], ctx["valid"], ctx["noun"])
    if kind == "missing":
        return f"missing required key {ctx['key']!r}"
    if kind in _BOUNDS:
        bound = next(v for v in ctx.values())
        return f"must be {_BOUNDS[kind]} {bound:g}, got {_show(value)}"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item(s), got {ctx['actual_length']}"
    if all(e["type"] == "literal_error" or e["type"] in _EXPECTED for e in errors):
        if what is not None and first["type"] == "model_type":
            return f"the {what} must be a mapping of KEY: VALUE, got {_show(value)}"
        return f"expected {_expectation(errors)}, got {_show(value)}{_hint(errors, value)}"
    return str(first["msg"])


def _expectation(errors: list[dict[str, Any]]) -> str:
    """``a number or one of 'auto'``: every branch of a union, the choices as one list."""
    kinds = [_EXPECTED[e["type"]] for e in errors if e["type"] != "literal_error"]
    literals = [w for e in errors if e["type"] == "literal_error" for w in _literals(e)]
    if literals:
        kinds.append("one of " + ", ".join(literals))
    return _or(kinds)


def _literals(error: dict[str, Any]) -> list[str]:
    return re.findall(r"'[^']*'", str((error.get("ctx") or {}).get("expected", "")))


def _hint(errors: list[dict[str, Any]], value: Any) -> str:
    types = {e["type"] for e in errors}
    if isinstance(value, str) and types & {"int_type", "float_type"}:
        try:
            float(value)
        except ValueError:
            return ""
        return " (a string: write the number without quotes)"
    literals = [w.strip("'") for e in errors if e["type"] == "literal_error" for w in _literals(e)]
    close = difflib.get_close_matches(str(value), literals, n=1) if literals else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown(keys: list[str], valid: list[str], noun: str) -> str:
    close = difflib.get_close_matches(keys[0], valid, n=1) if len(keys) == 1 else []
    named = repr(keys[0]) if len(keys) == 1 else str(keys)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {noun}{'s' if len(keys) > 1 else ''} {named}{hint}; {_plural(noun)} are {', '.join(valid)}"


def _plural(noun: str) -> str:
    return "valid keys" if noun == "key" else f"{noun.split()[-1]}s"


def _or(items: list[str]) -> str:
    unique = list(dict.fromkeys(items))
    return unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " or " + unique[-1]


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
