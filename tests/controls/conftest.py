"""Fixtures shared by the coverage tests: the built-in framework graph and approval policy."""

from __future__ import annotations

import pytest

from controls.approvals import ApprovalPolicy, load_policy
from controls.graph import ControlGraph, load_graph


@pytest.fixture(scope="session")
def graph() -> ControlGraph:
    """The graph of the built-in frameworks and controls (no user directory)."""
    return load_graph(user_dir=None)


@pytest.fixture(scope="session")
def policy() -> ApprovalPolicy:
    """The built-in approval policy."""
    return load_policy()
