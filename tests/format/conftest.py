"""Make the session ``world`` (a realistic ledger and its package) visible under tests/format."""

from tests.reports.conftest import db_copy, keys_s, world  # noqa: F401
