"""record: drop ix_record_system_kind, a prefix of ix_record_deciding.

Every lookup by (system, kind) is served by ix_record_deciding (system, kind,
subtype, model_version, observed_at, seq). With both, PostgreSQL planned the
coverage seeks (whose system and kind come from a VALUES list) on the shorter
index until the table was analysed, reading every record of the kind per group;
and each append paid for one more index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:00:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.drop_index('ix_record_system_kind')


def downgrade() -> None:
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.create_index('ix_record_system_kind', ['system', 'kind'], unique=False)
