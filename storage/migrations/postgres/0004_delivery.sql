-- Exactly-once handling of what Telegram delivers twice, or to two workers (PostgreSQL).
CREATE TABLE taps (
    query_id TEXT PRIMARY KEY,
    seen_at  BIGINT NOT NULL
);
CREATE INDEX taps_by_time ON taps (seen_at);

CREATE TABLE updates_seen (
    update_id BIGINT PRIMARY KEY,
    seen_at   BIGINT NOT NULL
);
CREATE INDEX updates_seen_by_time ON updates_seen (seen_at);
