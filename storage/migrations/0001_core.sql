-- The core group-buy loop: groups, members, deals, rounds, orders.
-- Times are integer Unix seconds (UTC); money is integer minor units.

CREATE TABLE groups (
    chat_id       INTEGER PRIMARY KEY,
    title         TEXT NOT NULL DEFAULT '',
    lang          TEXT NOT NULL DEFAULT 'en',
    tz            TEXT NOT NULL DEFAULT 'UTC',
    currency      TEXT NOT NULL DEFAULT 'CNY',
    created_at    INTEGER NOT NULL
);

CREATE TABLE members (
    user_id       INTEGER PRIMARY KEY,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    username      TEXT,
    language_code TEXT,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE deals (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id         INTEGER NOT NULL REFERENCES groups (chat_id),
    leader_id       INTEGER NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT,
    photo_file_id   TEXT,
    price           INTEGER NOT NULL CHECK (price > 0),
    currency        TEXT NOT NULL,
    min_members     INTEGER NOT NULL CHECK (min_members >= 1),
    deadline        INTEGER NOT NULL,
    stock           INTEGER CHECK (stock IS NULL OR stock >= 0),
    member_limit    INTEGER CHECK (member_limit IS NULL OR member_limit >= 1),
    note            TEXT,
    mode            TEXT NOT NULL CHECK (mode IN ('rounds', 'tipping')),
    status          TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'closed', 'cancelled')),
    -- units held by pending and confirmed orders; kept in step by every write so that
    -- "is there stock left" is one conditional UPDATE, the same on every engine
    taken           INTEGER NOT NULL DEFAULT 0 CHECK (taken >= 0),
    card_message_id INTEGER,
    reminded_round  INTEGER,
    created_at      INTEGER NOT NULL,
    closed_at       INTEGER,
    CHECK (stock IS NULL OR taken <= stock)
);
CREATE INDEX deals_by_chat ON deals (chat_id, status);
CREATE INDEX deals_open_by_deadline ON deals (status, deadline);

CREATE TABLE rounds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id     INTEGER NOT NULL REFERENCES deals (id),
    number      INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'formed', 'failed', 'cancelled')),
    opened_at   INTEGER NOT NULL,
    tipped_at   INTEGER,
    closed_at   INTEGER,
    UNIQUE (deal_id, number)
);
-- at most one open round per deal, whatever races
CREATE UNIQUE INDEX rounds_one_open ON rounds (deal_id) WHERE status = 'open';

CREATE TABLE orders (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id      INTEGER NOT NULL REFERENCES deals (id),
    round_id     INTEGER NOT NULL REFERENCES rounds (id),
    user_id      INTEGER NOT NULL REFERENCES members (user_id),
    quantity     INTEGER NOT NULL CHECK (quantity >= 1),
    unit_price   INTEGER NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    paid_at      INTEGER,
    paid_by      INTEGER,
    collected_at INTEGER,
    collected_by INTEGER
);
-- one live order per member per round: a second tap adds to it, never beside it
CREATE UNIQUE INDEX orders_one_live ON orders (round_id, user_id) WHERE status <> 'cancelled';
CREATE INDEX orders_by_user ON orders (user_id);
CREATE INDEX orders_by_deal ON orders (deal_id, status);
