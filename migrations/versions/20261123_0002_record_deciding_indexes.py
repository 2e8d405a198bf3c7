"""record: indexes for coverage's deciding-record search (controls.deciding).

* ``ix_record_deciding`` (system, kind, subtype, model_version, observed_at, seq):
  the newest record of a system's kind, subtype and model version is one seek.
* ``ix_record_system_supersedes`` (system, supersedes): a system's superseding
  records without scanning its records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:00:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.create_index('ix_record_deciding', ['system', 'kind', 'subtype', 'model_version', 'observed_at', 'seq'], unique=False)
        batch_op.create_index('ix_record_system_supersedes', ['system', 'supersedes'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.drop_index('ix_record_system_supersedes')
        batch_op.drop_index('ix_record_deciding')
