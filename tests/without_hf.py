"""Run ``ultrajudge`` commands as if ``pip install ultrajudge`` had left out the ``[hf]`` extra.

    python tests/without_hf.py '[["score", "data.jsonl", ...], ["compare", ...]]'

A meta-path finder takes the place of the standard path finder and hides torch, transformers
and tokenizers: their imports fail with ``ModuleNotFoundError``, ``importlib.util.find_spec``
returns None and ``importlib.metadata`` does not list them, as for packages that are not
installed (a ``None`` in ``sys.modules`` would not do: libraries such as SciPy look a module
up in ``sys.modules`` directly). Prints one JSON line: each command's exit code and output,
and whether any blocked module was imported after all.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import json
import sys
from collections.abc import Iterable
from importlib.machinery import ModuleSpec, PathFinder
from typing import Any

BLOCKED = ("torch", "transformers", "tokenizers")


class WithoutHF(importlib.abc.MetaPathFinder):
    """The standard path finder, minus the blocked distributions."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name.partition(".")[0] in BLOCKED:
            return None
        return PathFinder.find_spec(name, path, target)

    def find_distributions(self, context: Any = None) -> Iterable[Any]:
        context = context or importlib.metadata.DistributionFinder.Context()
        return (
            d
            for d in PathFinder.find_distributions(context)
            if (d.metadata["Name"] or "").lower() not in BLOCKED
        )

    def invalidate_caches(self) -> None:
        PathFinder.invalidate_caches()


def block() -> None:
    sys.meta_path[:] = [WithoutHF() if f is PathFinder else f for f in sys.meta_path]


def main(commands: list[list[str]]) -> dict[str, Any]:
    block()
    from typer.testing import CliRunner

    from ultrajudge.cli import _register, app

    _register()
    runner = CliRunner()
    results = []
    for args in commands:
        result = runner.invoke(app, args)
        results.append({"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr})
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    return {"results": results, "loaded": loaded}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
