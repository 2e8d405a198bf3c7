"""Check exported OSCAL files with compliance-trestle's models: ``python -m interop.validate DIR``.

Each ``*.json`` file below DIR whose single top-level key names an OSCAL model
(catalog, profile, assessment-results, mapping-collection) is loaded strictly
with trestle's pydantic models (unknown fields, wrong types, bad UUIDs, ids or
dates all fail) and its ``oscal-version`` is checked against the versions
trestle models. Proof files are checked against the SHA-256 the assessment
results give for them.

compliance-trestle is a test dependency (the ``test`` extra), not a runtime
one: the export never imports it.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

MODELS = {
    "catalog": "trestle.oscal.catalog",
    "profile": "trestle.oscal.profile",
    "assessment-results": "trestle.oscal.assessment_results",
    "mapping-collection": "trestle.oscal.mapping",
}


def validate_file(path: Path) -> str:
    """Load one OSCAL JSON file strictly with trestle's model for it.

    Returns:
        The model name.

    Raises:
        ValueError: naming the model and the first problems, if it does not validate.
    """
    data = path.read_bytes()
    doc = json.loads(data)
    if not isinstance(doc, dict) or len(doc) != 1 or next(iter(doc)) not in MODELS:
        raise ValueError(f"not one of the OSCAL models {', '.join(MODELS)} (top-level keys: {list(doc)[:3]})")
    model = next(iter(doc))
    module = import_module(MODELS[model])
    from pydantic import ValidationError

    try:
        module.Model.model_validate_json(data, strict=True)
    except ValidationError as e:
        first = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()[:3])
        raise ValueError(f"{model}: {e.error_count()} problem(s): {first}") from e
    from trestle.oscal import OSCAL_VERSION_REGEX

    version = doc[model]["metadata"]["oscal-version"]
    if not re.match(OSCAL_VERSION_REGEX, version):
        raise ValueError(f"{model}: oscal-version {version} is not one trestle models ({OSCAL_VERSION_REGEX})")
    return model


def check_proof_hashes(directory: Path, results: dict[str, Any]) -> int:
    """Check every back-matter link of the assessment results that carries a SHA-256 and points
    into ``directory``; returns how many were checked.

    Raises:
        ValueError: naming the first file whose digest differs or that is missing.
    """
    checked = 0
    for res in results["assessment-results"].get("back-matter", {}).get("resources", []):
        for link in res.get("rlinks", []):
            target = directory / link["href"]
            if "://" in link["href"] or not link.get("hashes") or not target.is_file():
                continue
            want = link["hashes"][0]["value"]
            got = hashlib.sha256(target.read_bytes()).hexdigest()
            if got != want:
                raise ValueError(f"{link['href']}: SHA-256 {got}, the assessment results say {want}")
            checked += 1
    return checked


def validate_directory(directory: Path) -> dict[str, str]:
    """Validate every OSCAL file below ``directory``; returns model name by relative path.

    Raises:
        ValueError: naming the file, for the first file that fails.
    """
    found: dict[str, str] = {}
    for path in sorted(directory.rglob("*.json")):
        rel = path.relative_to(directory).as_posix()
        if rel.startswith("proofs/"):
            continue
        try:
            found[rel] = validate_file(path)
        except ValueError as e:
            raise ValueError(f"{rel}: {e}") from e
    results = directory / "assessment-results.json"
    if results.is_file():
        check_proof_hashes(directory, json.loads(results.read_bytes()))
    return found


def main(argv: list[str]) -> int:
    """Validate the directories named in ``argv``; print one line per file."""
    if not argv:
        print("usage: python -m interop.validate DIR...", file=sys.stderr)
        return 2
    for d in argv:
        try:
            found = validate_directory(Path(d))
        except ValueError as e:
            print(f"INVALID {d}/{e}", file=sys.stderr)
            return 1
        if not found:
            print(f"INVALID {d}: no OSCAL files", file=sys.stderr)
            return 1
        for rel, model in found.items():
            print(f"valid {model:<19} {d}/{rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
