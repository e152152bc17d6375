-- Leader tools: the daily summary time per group, and a history of paid/collected marks.

-- Local "HH:MM" in the group's time zone, or NULL for no daily summary.
ALTER TABLE groups ADD COLUMN summary_time TEXT DEFAULT '21:00';
-- The last local day (YYYY-MM-DD) whose summary went out, so a restart sends none twice.
ALTER TABLE groups ADD COLUMN summary_sent_on TEXT;

-- Every paid/collected mark and every undo, append-only: who, when, what.
CREATE TABLE order_marks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id   INTEGER NOT NULL REFERENCES orders (id),
    mark       TEXT NOT NULL CHECK (mark IN ('paid', 'collected')),
    value      INTEGER NOT NULL CHECK (value IN (0, 1)),
    by_user    INTEGER NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX order_marks_by_order ON order_marks (order_id);

CREATE INDEX rounds_by_closed ON rounds (status, closed_at);
CREATE INDEX deals_by_leader ON deals (leader_id);
