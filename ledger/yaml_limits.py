"""A bound on what YAML aliases expand to, for every YAML file Assure reads from users.

An anchor can be named again and again (``*a``), and each use stands for the whole node:
nine lines of nested aliases stand for a billion strings ("billion laughs"). PyYAML builds
them as shared references, cheaply, and whatever walks the result next (validation, JSON
encoding, the OSCAL or CISO Assistant import) then takes hours and all memory. Anchors
themselves are legitimate (our own EU AI Act file repeats dates with them), so a document
is refused only when its expanded size, counting every use of an alias in full, passes
:data:`EXPANDED_NODES`; a 1 MiB file written out without aliases holds far fewer nodes.
"""

from __future__ import annotations

from typing import Any

import yaml

EXPANDED_NODES = 2_000_000
"""The most nodes a document may stand for once every alias is expanded."""


class ExpansionError(yaml.MarkedYAMLError):
    """A document whose aliases expand past :data:`EXPANDED_NODES`."""


def expanded_size(root: yaml.Node, *, limit: int = EXPANDED_NODES) -> int:
    """Nodes ``root`` stands for with every alias expanded (each distinct node counted once per
    use), computed over the distinct nodes only; stops counting past ``limit``."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        kids = _children(node)
        if children_done or not kids:
            size[id(node)] = min(limit + 1, 1 + sum(size[id(k)] for k in kids))
            continue
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


class BoundedExpansion:
    """Mixin for a PyYAML loader: refuse a document that expands past :data:`EXPANDED_NODES`
    before anything is built from it."""

    def construct_document(self, node: yaml.Node) -> Any:
        """Build the document once its expanded size is known to be bounded."""
        if expanded_size(node) > EXPANDED_NODES:
            raise ExpansionError(problem=f"its aliases (*name) expand to more than {EXPANDED_NODES:,} nodes",
                                 problem_mark=node.start_mark)
        return super().construct_document(node)  # type: ignore[misc]
