"""Projections a writer only ever inserts into; every signer of an entry stored.

* ``key_revocation``: one row per key.revoke entry. Revocation used to UPDATE
  the key's ``key_registry`` row, so the documented writer role needed UPDATE
  on ``key_registry`` (and could have edited roles and validity with it). The
  revoked_* columns move here and ``key_registry`` becomes insert-only.
* ``key_registry.systems``: the systems a scoped key may sign for (JSON list).
* ``entry_signer``: every key that signed an entry (the ``record`` row names
  only the first), backfilled from the stored leaves.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:00:00
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'key_revocation',
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('revoked_seq', sa.BigInteger(), nullable=False),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('revoke_reason', sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint('key_id', name=op.f('pk_key_revocation')),
    )
    op.execute(
        "INSERT INTO key_revocation (key_id, revoked_seq, revoked_at, revoke_reason) "
        "SELECT key_id, revoked_seq, revoked_at, coalesce(revoke_reason, '') FROM key_registry "
        "WHERE revoked_seq IS NOT NULL"
    )
    with op.batch_alter_table('key_registry') as batch:
        batch.drop_column('revoked_seq')
        batch.drop_column('revoked_at')
        batch.drop_column('revoke_reason')
        batch.add_column(sa.Column('systems', sa.Text(), nullable=True))
    op.create_table(
        'entry_signer',
        sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('idx', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seq', 'idx', name=op.f('pk_entry_signer')),
    )
    op.create_index(op.f('ix_entry_signer_key_id'), 'entry_signer', ['key_id'], unique=False)
    _backfill_signers()


def _backfill_signers() -> None:
    conn = op.get_bind()
    signer = sa.table('entry_signer', sa.column('seq'), sa.column('idx'), sa.column('key_id'))
    rows = conn.execute(sa.text("SELECT seq, leaf FROM entry ORDER BY seq"))
    batch = []
    for seq, leaf in rows:
        for idx, sig in enumerate(json.loads(bytes(leaf))["signatures"]):
            batch.append({"seq": seq, "idx": idx, "key_id": sig["keyid"]})
        if len(batch) >= 5000:
            conn.execute(signer.insert(), batch)
            batch = []
    if batch:
        conn.execute(signer.insert(), batch)


def downgrade() -> None:
    op.drop_index(op.f('ix_entry_signer_key_id'), table_name='entry_signer')
    op.drop_table('entry_signer')
    with op.batch_alter_table('key_registry') as batch:
        batch.drop_column('systems')
        batch.add_column(sa.Column('revoked_seq', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('revoke_reason', sa.String(length=2000), nullable=True))
    op.execute(
        "UPDATE key_registry SET revoked_seq = (SELECT revoked_seq FROM key_revocation r WHERE r.key_id = key_registry.key_id), "
        "revoked_at = (SELECT revoked_at FROM key_revocation r WHERE r.key_id = key_registry.key_id), "
        "revoke_reason = (SELECT revoke_reason FROM key_revocation r WHERE r.key_id = key_registry.key_id)"
    )
    op.drop_table('key_revocation')
