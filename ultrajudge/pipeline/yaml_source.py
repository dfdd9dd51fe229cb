"""A user's YAML file with the line of every key, so that an error can say ``file:line``.

The data comes from :func:`ultrajudge.judge.errors.read_yaml` (the safe loader: a syntax
error or a ``!!python`` tag is already one line naming the file). The same text is then
*composed* (parsed into nodes, nothing constructed) to keep each node's line; that is also
where a key given twice in one mapping is caught, which PyYAML otherwise resolves silently
by keeping the last value.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "p.yaml"
>>> _ = path.write_text("input: x.jsonl\\ngenerate:\\n  - pool: {n: 2}\\n")
>>> source = YamlSource.read(path, "pipeline file")
>>> source.data["generate"][0]["pool"]["n"], source.line_of(("generate", 0, "pool", "n"))
(2, 3)
>>> format_path(("generate", 0, "pool", "n"))
'generate[0].pool.n'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ultrajudge.judge.errors import ConfigError, read_yaml

__all__ = ["YamlSource", "format_path"]

Key = str | int


@dataclass(frozen=True)
class YamlSource:
    """The parsed data of one YAML file, its path, and its node tree (for line numbers)."""

    path: Path
    data: Any
    root: Any  # a yaml.Node, or None for an empty file

    @classmethod
    def read(cls, path: str | Path, what: str) -> YamlSource:
        """Read ``path`` safely; a key given twice in one mapping is a :class:`ConfigError`."""
        import yaml

        path = Path(path)
        data = read_yaml(path, what)
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        _check_duplicates(root, path)
        return cls(path, data, root)

    def line_of(self, keys: Sequence[Key]) -> int | None:
        """The 1-based line of the deepest node of ``keys`` that the file has."""
        node = self.root
        line = None if node is None else int(node.start_mark.line) + 1
        for key in keys:
            node, key_line = _child(node, key)
            if node is None:
                break
            line = key_line
        return line


def format_path(keys: Sequence[Key]) -> str:
    """``("generate", 0, "pool", "n")`` → ``generate[0].pool.n`` (a JSONPath-like key path)."""
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else f".{key}" if out else str(key)
    return out


def _child(node: Any, key: Key) -> tuple[Any, int | None]:
    """The child node under ``key`` and the line of the key itself (None if absent)."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if key_node.value == str(key):
                return value, int(key_node.start_mark.line) + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        item = node.value[key]
        return item, int(item.start_mark.line) + 1
    return None, None


def _check_duplicates(node: Any, path: Path, seen_nodes: set[int] | None = None) -> None:
    import yaml

    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # an alias of a node already checked (or a recursive one)
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value in node.value:
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key_node.value in seen:
                raise ConfigError(
                    f"{path}:{line}: key {key_node.value!r} is given twice in one mapping "
                    f"(first on line {seen[key_node.value]}); keep one"
                )
            if isinstance(key_node, yaml.ScalarNode):
                seen[key_node.value] = line
            _check_duplicates(value, path, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(item, path, seen_nodes)
