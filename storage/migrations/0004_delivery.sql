-- Exactly-once handling of what Telegram may deliver twice (after a restart, a network
-- hiccup, or to two workers): every button tap and every other update is recorded once.

-- A tap's callback query id, written in the same transaction as the tap's effect.
CREATE TABLE taps (
    query_id TEXT PRIMARY KEY,
    seen_at  INTEGER NOT NULL
);
CREATE INDEX taps_by_time ON taps (seen_at);

-- Updates other than taps, claimed before they are handled.
CREATE TABLE updates_seen (
    update_id INTEGER PRIMARY KEY,
    seen_at   INTEGER NOT NULL
);
CREATE INDEX updates_seen_by_time ON updates_seen (seen_at);
