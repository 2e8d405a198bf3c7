"""Loading user files: located errors for bad files, precedence, install, caching."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TINY_CONTROLS, TINY_FRAMEWORK

from frameworks.errors import FrameworkLoadError
from frameworks.loader import control_ids, install_file, load_library, validate_files
from ledger.errors import InputError

CONTROL = """\
format: assure-controls/1
catalog: {{id: my-controls, name: Mine, version: "1"}}
controls:
  - id: MY-01
    title: A control
    description: Something we do.
    owner: Me
{body}"""


def _control(body: str) -> str:
    return CONTROL.format(body=textwrap.indent(textwrap.dedent(body), "    "))


def _framework(requirements: str) -> str:
    head = TINY_FRAMEWORK.split("requirements:")[0]
    return head + "requirements:\n" + textwrap.indent(textwrap.dedent(requirements), "  ")


# name -> (file text, line the message must name, substrings it must contain)
BAD_FILES: dict[str, tuple[str, int, list[str]]] = {
    "unknown requirement in satisfies": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1, nist-ai-rmf:GOVERN-9.9]
            evidence: {kind: system}
        """),
        8,
        ["controls[0].satisfies[1]", "unknown requirement 'nist-ai-rmf:GOVERN-9.9'"],
    ),
    "unknown framework in satisfies": (
        _control("""\
            satisfies:
              - nist-csf:GV.OC-01
            evidence: {kind: system}
        """),
        9,
        ["no framework 'nist-csf' is loaded"],
    ),
    "grouping node in satisfies": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1]
            evidence: {kind: system}
        """),
        8,
        ["nist-ai-rmf:GOVERN-1 is a category that controls cannot satisfy"],
    ),
    "missing field": (
        textwrap.dedent("""\
            format: assure-controls/1
            catalog: {id: my-controls, name: Mine, version: "1"}
            controls:
              - id: MY-01
                title: A control
                description: Something we do.
                satisfies: [nist-ai-rmf:GOVERN-1.1]
                evidence: {kind: system}
        """),
        4,
        ["controls[0].owner", "missing field 'owner'"],
    ),
    "unknown field": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1]
            evidence: {kind: document, filters: {doc_type: policy}, max_age: 30}
        """),
        9,
        ["controls[0].evidence.max_age", "unknown field 'max_age'"],
    ),
    "empty all_of": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1]
            evidence:
              all_of: []
        """),
        10,
        ["controls[0].evidence.all_of", "empty all_of"],
    ),
    "nested empty any_of": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1]
            evidence:
              all_of:
                - {kind: system}
                - any_of: []
        """),
        12,
        ["controls[0].evidence.all_of[1].any_of", "empty any_of"],
    ),
    "filter on a field the record kind lacks": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1]
            evidence: {kind: evaluation, filters: {doc_type: model_card}}
        """),
        9,
        ["filter field 'doc_type' does not exist on evaluation records"],
    ),
    "filter value outside the vocabulary": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1]
            evidence: {kind: document, filters: {doc_type: modelcard}}
        """),
        9,
        ["'modelcard', not one of: model_card"],
    ),
    "binding a kind without a model version": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1]
            evidence: {kind: exception, bound_to_model_version: true}
        """),
        9,
        ["exception records carry no model version"],
    ),
    "duplicate requirement id": (
        _framework("""\
            - {id: P1, type: section, title: One, assessable: false}
            - {id: P1.1, type: rule, parent: P1, title: Two}
            - {id: P1.1, type: rule, parent: P1, title: Three}
        """),
        7,
        ["requirements[2].id", "duplicate requirement id 'P1.1'"],
    ),
    "cycle in hierarchy": (
        _framework("""\
            - {id: P1, type: rule, parent: P3, title: One}
            - {id: P2, type: rule, parent: P1, title: Two}
            - {id: P3, type: rule, parent: P2, title: Three}
        """),
        5,
        ["requirements[0].parent", "cycle in hierarchy: P1 -> P3 -> P2 -> P1"],
    ),
    "unknown parent": (
        _framework("""\
            - {id: P1, type: rule, title: One}
            - {id: P2, type: rule, parent: P9, title: Two}
        """),
        6,
        ["requirements[1].parent", "unknown parent 'P9'"],
    ),
    "requirement id that YAML reads as a number": (
        _framework("""\
            - {id: 4.1, type: rule, title: One}
        """),
        5,
        ["requirements[0].id", "valid string"],
    ),
    "date missing for a class in scope": (
        _framework("""\
            - id: R1
              type: rule
              title: One
              applicability:
                kind: obligation
                actors: [provider]
                scope: [high_risk]
                applies_from: {high_risk_annex_iii: 2027-12-02}
        """),
        9,
        ["applies_from gives no date for high_risk_annex_i"],
    ),
    "unknown actor": (
        _framework("""\
            - id: R1
              type: rule
              title: One
              applicability: {kind: obligation, actors: [vendor], scope: [all], applies_from: {all: 2026-01-01}}
        """),
        8,
        ["requirements[0].applicability.actors[0]", "'provider'"],
    ),
    "unknown requirement in a crosswalk": (
        textwrap.dedent("""\
            format: assure-crosswalk/1
            crosswalk: {id: mine, title: Mine}
            source: {title: Me, licence: internal}
            mappings:
              - {from: 'nist-ai-rmf:GOVERN-1.1', to: 'iso-42001:A.2.2', relation: related}
              - {from: 'nist-ai-rmf:GOVERN-1.1', to: 'iso-42001:A.99', relation: equivalent}
        """),
        6,
        ["mappings[1].to", "unknown requirement 'iso-42001:A.99'"],
    ),
    "unknown relation": (
        textwrap.dedent("""\
            format: assure-crosswalk/1
            crosswalk: {id: mine, title: Mine}
            source: {title: Me, licence: internal}
            mappings:
              - {from: 'nist-ai-rmf:GOVERN-1.1', to: 'iso-42001:A.2.2', relation: equal}
        """),
        5,
        ["mappings[0].relation", "'equivalent'"],
    ),
    "duplicate control id across catalogs": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1]
            evidence: {kind: system}
        """).replace("MY-01", "GOV-01"),
        4,
        ["controls[0].id", "duplicate control id 'GOV-01' (also in controls.yaml)"],
    ),
    "requirement reference without its framework": (
        _control("""\
            satisfies: [GOVERN-1.1]
            evidence: {kind: system}
        """),
        8,
        ["controls[0].satisfies[0]", "'GOVERN-1.1' is not a requirement reference <framework>:<id>"],
    ),
    "duplicate key": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1]
            evidence: {kind: system}
            owner: Someone else
        """),
        10,
        ["duplicate key 'owner'"],
    ),
    "invalid YAML": (
        _control("""\
            satisfies: [nist-ai-rmf:GOVERN-1.1
            evidence: {kind: system}
        """),
        9,
        ["invalid YAML"],
    ),
    "missing format": (
        "framework: {id: x, name: X, version: '1'}\n",
        1,
        ["missing 'format' (one of: assure-framework/1"],
    ),
}


@pytest.mark.parametrize(("text", "line", "needles"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_is_reported_with_file_line_and_problem(
    write: Callable[[str, str], Path], text: str, line: int, needles: list[str]
) -> None:
    path = write("user/bad.yaml", text)
    with pytest.raises(FrameworkLoadError) as info:
        load_library(user_dir=path.parent)
    err = info.value
    assert isinstance(err, InputError) and err.exit_code == 2
    message = str(err)
    assert f"{path}:{line}: " in message, message
    for needle in needles:
        assert needle in message, message


def test_every_problem_in_a_file_is_reported(write: Callable[[str, str], Path]) -> None:
    path = write(
        "user/bad.yaml",
        _control("""\
            satisfies: [nist-ai-rmf:NOPE-1, iso-42001:Z.1, eu-ai-act:Art-999.1]
            evidence: {kind: system}
        """),
    )
    with pytest.raises(FrameworkLoadError) as info:
        load_library(user_dir=path.parent)
    assert [p.path for p in info.value.problems] == [
        "controls[0].satisfies[0]",
        "controls[0].satisfies[1]",
        "controls[0].satisfies[2]",
    ]


def test_user_framework_and_controls_join_the_library(write: Callable[[str, str], Path]) -> None:
    write("user/acme.yaml", TINY_FRAMEWORK)
    write("user/acme-controls.yml", TINY_CONTROLS)
    library = load_library(user_dir=write("user/x/.hidden.yaml", "not: [yaml").parent.parent)
    assert "acme-policy" in library.frameworks and "nist-ai-rmf" in library.frameworks
    assert library.control("ACME-01").satisfies == ["acme-policy:P1.1", "nist-ai-rmf:GOVERN-2.1"]
    assert library.frameworks["acme-policy"].file.origin == "user"


def test_user_file_with_a_builtin_id_replaces_it(write: Callable[[str, str], Path]) -> None:
    replacement = TINY_CONTROLS.replace("acme-controls", "assure-default").replace(
        "acme-policy:P1.1, ", ""
    )
    user = write("user/controls.yaml", replacement).parent
    library = load_library(user_dir=user)
    assert set(library.controls) == {"ACME-01"}
    assert library.catalogs["assure-default"].file.origin == "user"


def test_two_user_files_with_one_id_are_an_error(write: Callable[[str, str], Path]) -> None:
    write("user/a.yaml", TINY_FRAMEWORK)
    b = write("user/b.yaml", TINY_FRAMEWORK)
    with pytest.raises(FrameworkLoadError, match=f"{b}:2: framework.id: duplicate id 'acme-policy'"):
        load_library(user_dir=b.parent)


def test_validate_reports_on_the_files_named(write: Callable[[str, str], Path], tmp_path: Path) -> None:
    good = write("acme.yaml", TINY_FRAMEWORK)
    library = validate_files([good], user_dir=tmp_path / "none")
    assert library.frameworks["acme-policy"].file.origin == "extra"
    controls = write("acme-controls.yaml", TINY_CONTROLS)
    with pytest.raises(FrameworkLoadError, match="no framework 'acme-policy' is loaded"):
        validate_files([controls], user_dir=tmp_path / "none")
    assert validate_files([good, controls], user_dir=tmp_path / "none").control("ACME-01")


def test_install_copies_a_valid_file_and_refuses_a_bad_one(write: Callable[[str, str], Path], tmp_path: Path) -> None:
    user = tmp_path / "frameworks"
    target = install_file(write("acme.yaml", TINY_FRAMEWORK), user_dir=user)
    assert target == user / "acme.yaml" and target.read_text() == TINY_FRAMEWORK
    assert "ACME-01" not in control_ids(user_dir=user)
    install_file(write("acme-controls.yaml", TINY_CONTROLS), user_dir=user)
    assert "ACME-01" in control_ids(user_dir=user) and "GOV-01" in control_ids(user_dir=user)
    bad = write("bad.yaml", TINY_CONTROLS.replace("P1.1", "P7").replace("acme-controls", "more"))
    with pytest.raises(FrameworkLoadError, match="unknown requirement 'acme-policy:P7'"):
        install_file(bad, user_dir=user)
    assert not (user / "bad.yaml").exists()


def test_reinstalling_a_file_replaces_the_old_copy(write: Callable[[str, str], Path], tmp_path: Path) -> None:
    user = tmp_path / "frameworks"
    install_file(write("acme.yaml", TINY_FRAMEWORK), user_dir=user)
    changed = TINY_FRAMEWORK.replace('version: "2026"', 'version: "2027"')
    install_file(write("acme.yaml", changed), user_dir=user)
    assert load_library(user_dir=user).frameworks["acme-policy"].info.version == "2027"


def test_cache_is_keyed_by_content(write: Callable[[str, str], Path]) -> None:
    path = write("user/acme.yaml", TINY_FRAMEWORK)
    first = load_library(user_dir=path.parent)
    assert load_library(user_dir=path.parent) is first
    path.write_text(TINY_FRAMEWORK.replace("Every AI system has an owner", "Every system has an owner"))
    second = load_library(user_dir=path.parent)
    assert second is not first
    assert second.requirements["acme-policy:P1.1"].title == "Every system has an owner"
    assert second.content_hash != first.content_hash
