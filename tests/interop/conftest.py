"""Fixtures of the interop tests: the package tests' realistic ledger, exported as OSCAL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from controls.approvals import load_policy
from controls.graph import ControlGraph, load_graph
from interop.oscal_export import OscalExport, export_oscal
from ledger.store import Ledger
from tests.conftest import Keys
from tests.reports.conftest import AS_OF, populate

DATA = Path(__file__).parent / "data"


@dataclass
class Exported:
    """A populated ledger and its OSCAL export as of ``AS_OF``."""

    engine: sa.Engine
    graph: ControlGraph
    result: OscalExport
    dir: Path


@pytest.fixture(scope="session")
def graph() -> ControlGraph:
    return load_graph(user_dir=None)


def export(engine: sa.Engine, graph: ControlGraph, out: Path) -> OscalExport:
    """The OSCAL export of credit-scoring as of AS_OF into ``out``."""
    return export_oscal(engine, "credit-scoring", graph=graph, policy=load_policy(None), frameworks=None,
                        as_of=AS_OF, out_dir=out)


@pytest.fixture
def exported(engine: sa.Engine, keys: Keys, graph: ControlGraph, tmp_path: Path) -> Exported:
    populate(Ledger(engine), keys)
    out = tmp_path / "oscal"
    return Exported(engine, graph, export(engine, graph, out), out)
