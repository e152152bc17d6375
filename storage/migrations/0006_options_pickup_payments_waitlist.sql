-- Options per deal, pickup points with collection codes, payment claims and reminders,
-- the waitlist, and the card privacy setting.

CREATE TABLE deal_options (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id  INTEGER NOT NULL REFERENCES deals (id),
    position INTEGER NOT NULL,
    name     TEXT NOT NULL,
    price    INTEGER NOT NULL CHECK (price > 0),
    stock    INTEGER CHECK (stock IS NULL OR stock >= 0),
    taken    INTEGER NOT NULL DEFAULT 0 CHECK (taken >= 0),
    CHECK (stock IS NULL OR taken <= stock),
    UNIQUE (deal_id, position)
);

ALTER TABLE orders ADD COLUMN option_id INTEGER REFERENCES deal_options (id);
-- One live order per member per round per option (or per round, without options).
DROP INDEX orders_one_live;
CREATE UNIQUE INDEX orders_one_live ON orders (round_id, user_id, COALESCE(option_id, 0))
    WHERE status <> 'cancelled';

-- Pickup points a group offers; a deal may use some of them (deal_pickups) or all.
CREATE TABLE pickup_points (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id  INTEGER NOT NULL REFERENCES groups (chat_id),
    name     TEXT NOT NULL,
    active   INTEGER NOT NULL DEFAULT 1,
    UNIQUE (chat_id, name)
);
CREATE TABLE deal_pickups (
    deal_id   INTEGER NOT NULL REFERENCES deals (id),
    pickup_id INTEGER NOT NULL REFERENCES pickup_points (id),
    PRIMARY KEY (deal_id, pickup_id)
);
ALTER TABLE orders ADD COLUMN pickup_id INTEGER REFERENCES pickup_points (id);
-- A short code per confirmed order, shown to the member and checked off at pickup.
ALTER TABLE orders ADD COLUMN code TEXT;
CREATE UNIQUE INDEX orders_by_code ON orders (code) WHERE code IS NOT NULL;

-- "I've paid" from the member, waiting for the leader to confirm or reject it.
ALTER TABLE orders ADD COLUMN paid_claimed_at INTEGER;

-- At most one payment reminder per member per group per day.
CREATE TABLE payment_reminders (
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    day     TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id, day)
);

-- "Notify me" when sold out; freed units are offered to the first in line for a while.
CREATE TABLE waitlist (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id    INTEGER NOT NULL REFERENCES deals (id),
    option_id  INTEGER REFERENCES deal_options (id),
    user_id    INTEGER NOT NULL,
    status     TEXT NOT NULL DEFAULT 'waiting'
               CHECK (status IN ('waiting', 'offered', 'taken', 'expired', 'gone')),
    created_at INTEGER NOT NULL,
    offered_at INTEGER,
    expires_at INTEGER
);
CREATE UNIQUE INDEX waitlist_once ON waitlist (deal_id, COALESCE(option_id, 0), user_id)
    WHERE status IN ('waiting', 'offered');
CREATE INDEX waitlist_queue ON waitlist (deal_id, status, id);

-- Cards show members' names ('names', the default) or only counts ('counts').
ALTER TABLE groups ADD COLUMN privacy TEXT NOT NULL DEFAULT 'names'
    CHECK (privacy IN ('names', 'counts'));
