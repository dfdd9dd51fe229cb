"""The backend Protocol every model provider implements, and the registry by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ultrajudge.judge.types import (
    Capabilities,
    Completion,
    Conversation,
    GenerationParams,
    LogprobRequest,
    TokenDistribution,
)


@runtime_checkable
class Backend(Protocol):
    """A model that can chat, complete raw text, and (optionally) expose log-probabilities.

    Implementations never raise for one bad item of a batch: a failed item comes
    back as a ``Completion`` / ``TokenDistribution`` with ``error`` set, so one
    failure never loses the rest of the batch.
    """

    #: Stable id of the model and its loading options; part of every cache key.
    id: str
    capabilities: Capabilities

    def chat(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[Completion]:
        """Generate one assistant turn for each conversation (chat template applied)."""
        ...

    def complete(self, prompts: Sequence[str], params: GenerationParams) -> list[Completion]:
        """Continue each raw prompt verbatim (no chat template; Magpie needs this)."""
        ...

    def next_token_logprobs(
        self, requests: Sequence[LogprobRequest], *, candidates: Sequence[str] = (), top_k: int = 20
    ) -> list[TokenDistribution]:
        """Distribution of the next token after each request's prompt.

        ``candidates`` are token strings whose log-probability the caller needs
        (e.g. ``"1".."5"``); a local model returns them exactly, an API returns
        what its ``top_logprobs`` holds. ``top_k`` most likely tokens are added.
        """
        ...


class MissingExtraError(ImportError):
    """A backend needs packages of an optional extra that are not installed."""


def require_extra(extra: str, modules: Sequence[str], what: str) -> None:
    """Raise ``MissingExtraError`` naming ``pip install 'ultrajudge[<extra>]'`` unless every
    module of ``modules`` can be imported. ``what`` starts the message ("judge 'x' ...")."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError(
                f"{what} needs {' and '.join(modules)} ({exc.name or module} is not installed): "
                f"pip install 'ultrajudge[{extra}]'"
            ) from None


BackendFactory = Callable[..., Backend]
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Class/function decorator: make a backend buildable by ``name``."""

    def deco(factory: BackendFactory) -> BackendFactory:
        if name in _REGISTRY:
            raise ValueError(f"backend {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return deco


def available_backends() -> list[str]:
    _import_builtin()
    return sorted(_REGISTRY)


def build_backend(spec: str, **options: Any) -> Backend:
    """Build a backend from a judge spec.

    ``"scripted:path.jsonl"``, ``"openai:gpt-4o-mini"`` name a backend
    explicitly; anything else (a local path or a Hub id) is a ``transformers``
    model.
    """
    _import_builtin()
    name, _, target = spec.partition(":")
    if name in _REGISTRY and target:
        return _REGISTRY[name](target, **options)
    return _REGISTRY["transformers"](spec, **options)


#: Entry-point group through which other distributions add backends: an entry point
#: ``name = "package.module:factory"`` makes ``name:TARGET`` build ``factory(TARGET, **options)``.
ENTRY_POINT_GROUP = "ultrajudge.backends"


def _import_builtin() -> None:
    # Built-in backends register themselves on import; providers with heavy or
    # optional SDKs import them lazily inside their factories.
    import importlib

    for module in ("scripted", "transformers", "openai", "vllm"):
        try:
            importlib.import_module(f"ultrajudge.judge.backends.{module}")
        except ModuleNotFoundError as exc:  # an optional backend module not shipped
            if exc.name != f"ultrajudge.judge.backends.{module}":
                raise
    _load_entry_points()


def _load_entry_points() -> None:
    """Register the backends other installed distributions declare (loaded when first named
    by ``build_backend``; a built-in name is never replaced)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = _lazy(ep)


def _lazy(ep: Any) -> BackendFactory:
    def factory(target: str, **options: Any) -> Backend:
        return ep.load()(target, **options)  # type: ignore[no-any-return]

    factory.__doc__ = f"{ep.value} (entry point {ep.name!r} of {ENTRY_POINT_GROUP})"
    return factory
