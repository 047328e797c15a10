"""announce each flight event to the API processes (PostgreSQL NOTIFY)

Revision ID: 0017
Revises: 0020
Create Date: 2026-11-29 17:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0020"
branch_labels = None
depends_on = None

# The payload is "<event id> <flight id> <account id>": the listener routes on the ids and
# the streams read the row itself from the table. NOTIFY is transactional: it is sent when
# the inserting transaction commits, never for one rolled back.
FUNCTION = """
CREATE FUNCTION nubo_flight_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('nubo_flight_events', NEW.id::text || ' ' || NEW.flight_id::text || ' '
    || coalesce((SELECT account_id::text FROM flights WHERE id = NEW.flight_id), '-'));
  RETURN NULL;
END $$
"""
TRIGGER = """
CREATE TRIGGER flight_events_notify AFTER INSERT ON flight_events
FOR EACH ROW EXECUTE FUNCTION nubo_flight_event_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: the process that writes the event announces it in-process
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS flight_events_notify ON flight_events")
    op.execute("DROP FUNCTION IF EXISTS nubo_flight_event_notify()")
