"""Model backends: one Protocol, a registry by name, one module per provider."""

from ultrajudge.judge.backends.base import (
    Backend,
    available_backends,
    build_backend,
    register_backend,
)

__all__ = ["Backend", "available_backends", "build_backend", "register_backend"]
