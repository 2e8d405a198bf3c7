"""The YAML reader for record files: safe, strict, and read the same by YAML 1.1 and 1.2.

PyYAML implements YAML 1.1, whose implicit types differ from YAML 1.2's and from
JSON's: ``012`` is octal 10 (YAML 1.2: 12), ``yes``, ``no``, ``on`` and ``off``
are booleans (YAML 1.2: text), ``1_000`` is 1000 and ``1:30`` is 90 (YAML 1.2:
text), while ``1e21`` is text (YAML 1.2 and JSON: a number). A record read one
way here and another way by the tool that wrote it would be signed with a value
nobody meant, so plain (unquoted) scalars are read as follows:

* a number is written as in JSON (optional sign, decimal digits without leading
  zeros, optional fraction and exponent): ``12``, ``-0.5``, ``1e21``, ``1.0e+21``;
  ``.5``, ``1.`` and a leading ``+`` are accepted too, as both YAML versions agree on them;
* ``true`` and ``false`` (also ``True``, ``TRUE``, ...) are booleans;
* every other plain scalar that YAML 1.1 or YAML 1.2 reads as a number or a
  boolean is refused, naming its line and value: ``012``, ``0x1F``, ``0o17``,
  ``0b11``, ``1_000``, ``1:30``, ``yes``, ``no``, ``on``, ``off``. Quote it if
  it is text; write the decimal number or ``true``/``false`` otherwise;
* nulls (``~``, ``null``, empty), timestamps (``2026-11-01T09:00:00Z``) and
  merge keys are read as PyYAML reads them.

Duplicate mapping keys are refused. The LibYAML parser (``yaml.CSafeLoader``)
is used when PyYAML was built with it (about five times faster than the pure
Python one); the rules above are the same with either. This module validates no
record fields and does not limit sizes (see :mod:`ledger.ingest`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from ledger.yaml_limits import BoundedExpansion

_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_BOOL, _INT, _FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_AMBIGUOUS = "tag:assure,2026:ambiguous"

_NUMBER_START = list("-+.0123456789")
_INT_RE = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
# YAML 1.2's core schema: the plain scalars it reads as numbers or booleans.
_YAML12_RES = [
    r"^[-+]?[0-9]+$",
    r"^0o[0-7]+$",
    r"^0x[0-9a-fA-F]+$",
    r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$",
    r"^[-+]?\.(?:inf|Inf|INF)$",
    r"^\.(?:nan|NaN|NAN)$",
    _BOOL_RE.pattern,
]
# Tried after the three above: what YAML 1.1 (PyYAML's own resolvers) or YAML 1.2
# reads as a number or a boolean, but not as this module does.
_AMBIGUOUS_RE = re.compile(
    "|".join(
        [f"(?:{regexp.pattern})" for resolvers in yaml.SafeLoader.yaml_implicit_resolvers.values()
         for tag, regexp in resolvers if tag in (_BOOL, _INT, _FLOAT)]
        + [f"(?:{p})" for p in _YAML12_RES]
    ),
    re.VERBOSE,
)


class _StrictLoader(BoundedExpansion, _SafeBase):  # type: ignore[valid-type,misc]
    """A safe loader with the scalar rules above that refuses duplicate mapping keys and alias bombs."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing a key that appears twice."""
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _refuse_ambiguous(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    raise yaml.constructor.ConstructorError(None, None, ambiguity(node.value), node.start_mark)


def ambiguity(value: str) -> str:
    """Why the plain scalar ``value`` is refused: how YAML 1.1 and YAML 1.2 read it."""
    old, new = _read_yaml11(value), _read_yaml12(value)
    if old == new and type(old) is type(new):  # 0x1F, 0012.5: the same number, not written as JSON would
        return f"{value!r} is not a number as JSON writes it (YAML reads it as {_show(old)}): " \
               f"quote it if it is text, or write {_show(old)}"
    fix = "write true or false" if isinstance(old, bool) or isinstance(new, bool) else "write a decimal number"
    return (f"{value!r} is ambiguous: YAML 1.1 reads it as {_show(old)}, YAML 1.2 as {_show(new)}; "
            f"quote it if it is text, or {fix}")


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str | bool) else repr(value)


def _read_yaml11(value: str) -> Any:
    try:
        return yaml.load(value, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return value


def _read_yaml12(value: str) -> Any:
    """``value`` as YAML 1.2's core schema reads a plain scalar (numbers and booleans only)."""
    if re.fullmatch(_YAML12_RES[0], value):
        return int(value, 10)
    if re.fullmatch(_YAML12_RES[1], value) or re.fullmatch(_YAML12_RES[2], value):
        return int(value, 0)  # 0o17, 0x1F
    if re.fullmatch(_YAML12_RES[3], value):
        return float(value)
    if _BOOL_RE.fullmatch(value):
        return value.lower() == "true"
    return value


def _use_scalar_rules(loader: type[yaml.SafeLoader]) -> None:
    """Replace PyYAML's YAML 1.1 number and boolean resolvers with the rules above."""
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(_BOOL, _BOOL_RE, list("tTfF"))
    loader.add_implicit_resolver(_INT, _INT_RE, _NUMBER_START)
    loader.add_implicit_resolver(_FLOAT, _FLOAT_RE, _NUMBER_START)
    loader.add_implicit_resolver(_AMBIGUOUS, _AMBIGUOUS_RE, [*_NUMBER_START, *"yYnNoOtTfF"])
    loader.add_constructor(_AMBIGUOUS, _refuse_ambiguous)  # type: ignore[arg-type]


_use_scalar_rules(_StrictLoader)


def load_all(text: str) -> list[Any]:
    """Every non-empty document in ``text``.

    Raises:
        yaml.YAMLError: on a syntax error, a duplicate key or an ambiguous scalar
            (``problem_mark`` carries the line).
    """
    return [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
