"""Prompt templates: Jinja2 files rendered in a sandbox with ``StrictUndefined``.

A template names its messages with blocks::

    {% block system %}You are a careful grader.{% endblock %}
    {% block user %}Rate: {{ instruction }}{% endblock %}

``system`` is optional. Built-in templates live in the ``prompts`` package
(``ultrafeedback/overall``); a user's template is a file path and goes through
the same sandbox, so a template can't reach Python internals, and a variable
it names but isn't given is an error, not an empty string.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from ultrajudge.judge.errors import UserError
from ultrajudge.judge.types import Message

_ENV = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


# What rendering a hostile or broken template raises: the sandbox's refusal, and the
# arithmetic and recursion limits it leaves to Python ("{{ 9**9**9 }}", "{{ 'a' * 10**12 }}").
_REFUSED = (
    SecurityError,
    OverflowError,
    MemoryError,
    RecursionError,
    TypeError,
    ZeroDivisionError,
    jinja2.TemplateError,
)


class TemplateError(UserError, ValueError):
    """A template could not be found, parsed or rendered; the message says which and why."""


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template; ``id`` (name + source hash) goes into every cache key."""

    name: str
    source: str

    @functools.cached_property
    def id(self) -> str:
        return f"{self.name}@{hashlib.sha256(self.source.encode()).hexdigest()[:12]}"

    def render(self, **variables: Any) -> tuple[Message, ...]:
        """Render the ``system`` (optional) and ``user`` blocks into messages."""
        template = _compile(self.name, self.source)
        if "user" not in template.blocks:
            raise TemplateError(f"template {self.name!r} has no '{{% block user %}}'")
        context = template.new_context(variables)
        messages = []
        for role in ("system", "user"):
            if role in template.blocks:
                try:
                    text = "".join(template.blocks[role](context)).strip()
                except jinja2.UndefinedError as exc:
                    given = ", ".join(sorted(variables)) or "none"
                    raise TemplateError(
                        f"template {self.name!r}: {exc.message}; variables given: {given}"
                    ) from exc
                except _REFUSED as exc:  # the sandbox said no, or a value blew up
                    raise TemplateError(
                        f"template {self.name!r} was refused while rendering "
                        f"({type(exc).__name__}: {exc}); templates may only format the "
                        "variables they are given"
                    ) from exc
                if text:
                    messages.append(Message(role, text))  # type: ignore[arg-type]
        return tuple(messages)


@lru_cache(maxsize=64)
def _compile(name: str, source: str) -> jinja2.Template:
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name!r}, line {exc.lineno}: {exc.message}") from exc


def builtin_templates() -> list[str]:
    """Names of the templates shipped in ``prompts/`` (``ultrafeedback/overall`` ...)."""
    root = resources.files("ultrajudge.prompts")
    names: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".jinja2"):
                names.append(prefix + child.name.removesuffix(".jinja2"))

    walk(root, "")
    return sorted(names)


def load_template(name_or_path: str | Path) -> PromptTemplate:
    """A built-in template by name, or a user's ``.jinja2`` file by path."""
    path = Path(name_or_path)
    if path.suffix == ".jinja2" and path.is_file():
        return PromptTemplate(str(path), path.read_text(encoding="utf-8"))
    return _builtin(str(name_or_path).removesuffix(".jinja2"))


@functools.lru_cache(maxsize=256)
def _builtin(name: str) -> PromptTemplate:
    """A built-in template (package data: it cannot change while the process runs, so it is
    read once; the job runner asks for it for every row)."""
    resource = resources.files("ultrajudge.prompts").joinpath(*f"{name}.jinja2".split("/"))
    if not resource.is_file():
        raise TemplateError(
            f"no template {name!r}: not a .jinja2 file, nor a built-in "
            f"(built-ins: {', '.join(builtin_templates())})"
        )
    return PromptTemplate(name, resource.read_text(encoding="utf-8"))
