"""The text rules run inside pydantic-core (a pattern per field) and still say what ledger.text_rules says."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from ledger.errors import InputError
from ledger.records import Name, Text, parse_record
from ledger.text_rules import multi_line_problem, single_line_problem
from tests.conftest import eval_record

# Every character up to past the last refused one (U+2069), some beyond, and astral ones.
CHARS = [chr(c) for c in range(0x2100)] + ["\ufeff", "\uffff", "\U0001f600", "\U0010ffff"]


@pytest.mark.parametrize(("type_", "rule"), [(Name, single_line_problem), (Text, multi_line_problem)])
def test_the_pattern_refuses_exactly_what_the_rule_refuses(type_: object, rule: object) -> None:
    adapter = TypeAdapter(type_)
    for ch in CHARS:
        value = f"ab{ch}cd"
        try:
            adapter.validate_python(value)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == (rule(value) is None), repr(ch)  # type: ignore[operator]


def test_every_problem_is_reported_in_the_rules_words() -> None:
    record = eval_record(notes="ok\n\tline\u202eevil", artifacts=[{"name": "m\x1b", "uri": "s3://m", "sha256": "0" * 64}],
                         metrics={"a\x07": 1e300, "b": 0.5})
    with pytest.raises(InputError) as e:
        parse_record(record)
    assert e.value.field == "artifacts[0].name"
    assert e.value.reason == (
        "U+001B (escape) at character 2 is not allowed in a single-line text field; "
        "field 'notes': U+202E (right-to-left override) at character 9 is not allowed in a text field; "
        "field 'metrics.a\x07.[key]': U+0007 (control character) at character 2 is not allowed in a single-line "
        "text field; field 'metrics.a\x07': 1e+300 is an integral value beyond ±9007199254740991 (2**53-1), which "
        "JSON numbers do not hold exactly; give it in larger units (e.g. millions)")
