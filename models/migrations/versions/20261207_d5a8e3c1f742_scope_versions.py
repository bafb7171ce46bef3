"""scope versions: users.scope_version and scope_epoch, kept by triggers

Revision ID: d5a8e3c1f742
Revises: d2f8a4c61e37
Create Date: 2026-12-07 05:00:00

A viewer's scope (resolvers/scoping.py) is cached per process and used again while the viewer's
`users.scope_version` and the one row of `scope_epoch` read the same. Triggers change them in
the transaction of every change that may change a scope, whoever writes (API, command line,
fixtures): the user's own row, its memberships and their assigned devices and stock locations
change the user's version; adding, removing or moving an account changes the epoch. A new
value is never used before (PostgreSQL: a sequence, which a rollback does not take back;
SQLite: a random 64-bit number), so a scope cached from a transaction that was rolled back never
matches again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d5a8e3c1f742"
down_revision: str | None = "d2f8a4c61e37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ASSIGNMENTS = ("membership_devices", "membership_stock_locations")

POSTGRES = [
    "CREATE SEQUENCE scope_versions",
    """CREATE FUNCTION scope_user_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.scope_version IS NOT DISTINCT FROM OLD.scope_version THEN
    NEW.scope_version := nextval('scope_versions');
  END IF;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER users_scope_version BEFORE UPDATE ON users
FOR EACH ROW EXECUTE FUNCTION scope_user_row()""",
    """CREATE FUNCTION scope_membership_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE users SET scope_version = nextval('scope_versions') WHERE id = OLD.user_id;
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id) THEN
    UPDATE users SET scope_version = nextval('scope_versions') WHERE id = NEW.user_id;
  END IF;
  RETURN NULL;
END $$""",
    """CREATE TRIGGER memberships_scope_version AFTER INSERT OR UPDATE OR DELETE ON memberships
FOR EACH ROW EXECUTE FUNCTION scope_membership_row()""",
    """CREATE FUNCTION scope_assignment_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE users SET scope_version = nextval('scope_versions')
    WHERE id = (SELECT user_id FROM memberships WHERE id = OLD.membership_id);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.membership_id <> OLD.membership_id) THEN
    UPDATE users SET scope_version = nextval('scope_versions')
    WHERE id = (SELECT user_id FROM memberships WHERE id = NEW.membership_id);
  END IF;
  RETURN NULL;
END $$""",
    *(
        f"""CREATE TRIGGER {table}_scope_version AFTER INSERT OR UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION scope_assignment_row()"""
        for table in ASSIGNMENTS
    ),
    """CREATE FUNCTION scope_account_tree() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE scope_epoch SET version = nextval('scope_versions');
  RETURN NULL;
END $$""",
    """CREATE TRIGGER accounts_scope_epoch AFTER INSERT OR DELETE OR UPDATE OF parent_id
ON accounts FOR EACH STATEMENT EXECUTE FUNCTION scope_account_tree()""",
]

NEW_VERSION = "abs(random())"


def _sqlite_user_of(membership: str) -> str:
    return f"(SELECT user_id FROM memberships WHERE id = {membership})"


SQLITE = [
    f"""CREATE TRIGGER users_scope_version AFTER UPDATE ON users
WHEN NEW.scope_version IS OLD.scope_version
BEGIN UPDATE users SET scope_version = {NEW_VERSION} WHERE id = NEW.id; END""",
    f"""CREATE TRIGGER memberships_scope_insert AFTER INSERT ON memberships
BEGIN UPDATE users SET scope_version = {NEW_VERSION} WHERE id = NEW.user_id; END""",
    f"""CREATE TRIGGER memberships_scope_update AFTER UPDATE ON memberships
BEGIN UPDATE users SET scope_version = {NEW_VERSION} WHERE id IN (OLD.user_id, NEW.user_id);
END""",
    f"""CREATE TRIGGER memberships_scope_delete AFTER DELETE ON memberships
BEGIN UPDATE users SET scope_version = {NEW_VERSION} WHERE id = OLD.user_id; END""",
    *(
        statement
        for table in ASSIGNMENTS
        for statement in (
            f"""CREATE TRIGGER {table}_scope_insert AFTER INSERT ON {table}
BEGIN UPDATE users SET scope_version = {NEW_VERSION}
WHERE id = {_sqlite_user_of("NEW.membership_id")}; END""",
            f"""CREATE TRIGGER {table}_scope_update AFTER UPDATE ON {table}
BEGIN UPDATE users SET scope_version = {NEW_VERSION}
WHERE id IN ({_sqlite_user_of("OLD.membership_id")}, {_sqlite_user_of("NEW.membership_id")});
END""",
            f"""CREATE TRIGGER {table}_scope_delete AFTER DELETE ON {table}
BEGIN UPDATE users SET scope_version = {NEW_VERSION}
WHERE id = {_sqlite_user_of("OLD.membership_id")}; END""",
        )
    ),
    *(
        f"""CREATE TRIGGER accounts_scope_{event.split()[0].lower()} AFTER {event} ON accounts
BEGIN UPDATE scope_epoch SET version = {NEW_VERSION}; END"""
        for event in ("INSERT", "DELETE", "UPDATE OF parent_id")
    ),
]

SQLITE_TRIGGERS = [
    "users_scope_version",
    *(f"memberships_scope_{e}" for e in ("insert", "update", "delete")),
    *(f"{t}_scope_{e}" for t in ASSIGNMENTS for e in ("insert", "update", "delete")),
    *(f"accounts_scope_{e}" for e in ("insert", "delete", "update")),
]


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("scope_version", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.create_table(
        "scope_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scope_epoch")),
    )
    op.execute("INSERT INTO scope_epoch (id, version) VALUES (1, 0)")
    for statement in POSTGRES if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER accounts_scope_epoch ON accounts")
        for table in ("users", "memberships", *ASSIGNMENTS):
            op.execute(f"DROP TRIGGER {table}_scope_version ON {table}")
        for function in ("user_row", "membership_row", "assignment_row", "account_tree"):
            op.execute(f"DROP FUNCTION scope_{function}()")
        op.execute("DROP SEQUENCE scope_versions")
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger}")
    op.drop_table("scope_epoch")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("scope_version")
