"""Drop two indexes every append paid for and no query needs.

* ix_record_system: a prefix of ix_record_deciding (system, kind, ...) and of
  ix_record_system_supersedes, which serve every lookup by system.
* ix_entry_payload_sha256: entries are joined to payloads by the payload's key;
  nothing looks entries up by payload digest.

Measured: an append of 10,000 records writes two fewer B-tree entries per record.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:00:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index('ix_record_system', table_name='record')
    op.drop_index('ix_entry_payload_sha256', table_name='entry')


def downgrade() -> None:
    op.create_index('ix_entry_payload_sha256', 'entry', ['payload_sha256'], unique=False)
    op.create_index('ix_record_system', 'record', ['system'], unique=False)
