"""YAML reading for the framework library: fast parsing, line numbers only on error.

Files are parsed with libyaml (``CSafeLoader``) when it is available, with a
check that refuses duplicate mapping keys (PyYAML would silently keep the last
one). Line numbers are not tracked while loading; when a problem is found, the
file is composed (once) and the problem's path (``("controls", 3, "satisfies",
0)``) is walked through the node tree to find the line. Errors are rare, so the
common path stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from ledger.yaml_limits import BoundedExpansion

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice."""


class _CheckedLoader(BoundedExpansion, _BaseLoader):  # type: ignore[valid-type,misc]
    """Safe loader that refuses duplicate keys in a mapping, and alias bombs."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise DuplicateKeyError(
                            problem=f"duplicate key {key_node.value!r}",
                            problem_mark=key_node.start_mark,
                        )
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def parse(data: bytes) -> Any:
    """Parse YAML bytes into plain Python data.

    Raises:
        yaml.YAMLError: on a syntax error or a duplicate key (``problem_mark``
            carries the line).
    """
    return yaml.load(data, Loader=_CheckedLoader)


def error_line(exc: yaml.YAMLError) -> int | None:
    """The 1-based line a YAML error points at, if it says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def compose(data: bytes) -> yaml.Node | None:
    """The node tree of a YAML document (None if it cannot be composed or is empty)."""
    try:
        return yaml.compose(data, Loader=_BaseLoader)  # type: ignore[no-any-return]
    except yaml.YAMLError:
        return None


def locate(
    root: yaml.Node | None, path: Sequence[str | int]
) -> tuple[int | None, tuple[str | int, ...]]:
    """Find the line of a path inside a composed YAML document.

    Path elements that do not occur in the document (pydantic's union tags, or
    the name of a missing field) are skipped; the line is that of the deepest
    node reached, so a missing field points at the mapping that lacks it.

    Args:
        root: the document's node tree, from :func:`compose`.
        path: keys and list indexes from the document root.

    Returns:
        The 1-based line (None without a tree) and the part of the path that
        exists in the document.
    """
    if root is None:
        return None, tuple(path)
    node = root
    found: list[str | int] = []
    for part in path:
        child = _child(node, part)
        if child is None:
            continue
        node = child
        found.append(part)
    return node.start_mark.line + 1, tuple(found)


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == part:
                return value_node  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def format_path(path: Sequence[str | int]) -> str:
    """Render a path as ``controls[3].satisfies[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
