"""Fixtures for the framework library tests: the built-in graph and tiny user files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from controls.graph import ControlGraph, load_graph

TINY_FRAMEWORK = """\
format: assure-framework/1
framework: {id: acme-policy, name: ACME AI policy, version: "2026"}
source: {title: ACME internal AI policy, licence: internal}
requirements:
  - {id: P1, type: section, title: Governance, assessable: false}
  - {id: P1.1, type: rule, parent: P1, title: Every AI system has an owner}
  - {id: P1.2, type: rule, parent: P1, title: Every AI system is reviewed yearly}
"""

TINY_CONTROLS = """\
format: assure-controls/1
catalog: {id: acme-controls, name: ACME controls, version: "1"}
controls:
  - id: ACME-01
    title: Named owner
    description: Each system names an accountable owner.
    owner: CTO
    satisfies: [acme-policy:P1.1, nist-ai-rmf:GOVERN-2.1]
    evidence: {kind: system}
"""


@pytest.fixture(scope="session")
def graph() -> ControlGraph:
    """The graph of the built-in library only."""
    return load_graph()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented YAML text to tmp_path/<name> and return the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write
