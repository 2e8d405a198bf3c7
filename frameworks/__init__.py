"""Framework library: YAML definitions in, validated objects out.

* :mod:`frameworks.schema`: pydantic models of the three file formats
  (framework, crosswalk, controls) and the evidence-rule combinators;
* :mod:`frameworks.loader`: :func:`~frameworks.loader.load_library` reads the
  built-in YAML and a user directory, checks every reference, raises
  :class:`~frameworks.errors.FrameworkLoadError` with file, line and path;
* :mod:`frameworks.library`: the loaded :class:`~frameworks.library.Library`,
  :class:`~frameworks.library.Framework` and :class:`~frameworks.library.Requirement`;
* :mod:`frameworks.applicability`: whether a requirement binds a system of a
  given EU class, roles and facts on a given day, with the reason
  (:func:`~frameworks.applicability.assess`);
* :mod:`frameworks.penalties`: the fines of Arts 99-101 a breach of an EU AI Act
  provision exposes the organisation to (information, not requirements);
* :mod:`frameworks.vocab`: the closed vocabularies shared by all of the above.

The graph over all of this, with its queries, is :mod:`controls.graph`.
"""

from pathlib import Path

DEFAULT_USER_DIR = Path(".assure") / "frameworks"
"""The user frameworks directory, relative to the current directory (here, not in
:mod:`frameworks.loader`, so that command-line options can name it without loading pydantic)."""
