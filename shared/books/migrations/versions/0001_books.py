"""The books: orders, fills, audit, watermarks.

Revision ID: 0001_books
Revises:
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.books.models import Money, UtcDateTime

revision = "0001_books"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("intent_id", sa.String(64), nullable=True, unique=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("amount_usd", Money(), nullable=True),
        sa.Column("client_order_id", sa.String(64), nullable=True),
        sa.Column("order_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filled", Money(), nullable=False),
        sa.Column("cost", Money(), nullable=False),
        sa.Column("fee", Money(), nullable=False),
        sa.Column("fee_currency", sa.String(16), nullable=False),
        sa.Column("price", Money(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("stream_id", sa.String(32), nullable=False),
        sa.UniqueConstraint("exchange", "client_order_id", name="uq_orders_exchange_client_order_id"),
        sa.UniqueConstraint("exchange", "order_id", name="uq_orders_exchange_order_id"),
    )
    op.create_index("ix_orders_user_created", "orders", ["user_id", "created_at", "id"])
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("trade_id", sa.String(128), nullable=False),
        sa.Column("order_ref", sa.Integer(), sa.ForeignKey("orders.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("order_id", sa.String(128), nullable=True),
        sa.Column("client_order_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("price", Money(), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("cost", Money(), nullable=False),
        sa.Column("fee", Money(), nullable=False),
        sa.Column("fee_currency", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.UniqueConstraint("exchange", "trade_id", name="uq_fills_exchange_trade_id"),
    )
    op.create_index("ix_fills_order_ref", "fills", ["order_ref"])
    op.create_index("ix_fills_user_at", "fills", ["user_id", "at", "id"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=True),
        sa.Column("order_id", sa.String(128), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=True, unique=True),
    )
    op.create_index("ix_audit_user_at", "audit", ["user_id", "at", "id"])
    op.create_table(
        "watermarks",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("watermarks")
    op.drop_index("ix_audit_user_at", "audit")
    op.drop_table("audit")
    op.drop_index("ix_fills_user_at", "fills")
    op.drop_index("ix_fills_order_ref", "fills")
    op.drop_table("fills")
    op.drop_index("ix_orders_user_created", "orders")
    op.drop_table("orders")
