"""The scope index's snapshots: per-scope entry counts at a ledger size (insert-only).

A ``scope_index`` entry commits the Merkle root of these rows for its size; the
rows let the next index be built from the last one instead of from entry 0.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 20:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'scope_snapshot',
        sa.Column('size', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('scope', sa.String(length=128), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('last_seq', sa.BigInteger(), nullable=False),
        sa.Column('last_entry_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('size', 'scope', name=op.f('pk_scope_snapshot')),
    )


def downgrade() -> None:
    op.drop_table('scope_snapshot')
