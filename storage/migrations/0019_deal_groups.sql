-- One deal in several groups (/share, `groups:` in the form), and helper leaders (帮卖).
-- The deal's own group keeps its card in deals.card_message_id; each further group that
-- shows the deal has a row here with its card. A helper leader's group carries who
-- helps and their commission in basis points of each order's value.
CREATE TABLE deal_groups (
    deal_id INTEGER NOT NULL REFERENCES deals (id),
    chat_id INTEGER NOT NULL,
    card_message_id INTEGER,
    helper_id INTEGER,
    commission INTEGER NOT NULL DEFAULT 0 CHECK (commission BETWEEN 0 AND 10000),
    added_by INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (deal_id, chat_id)
);
CREATE INDEX deal_groups_by_chat ON deal_groups (chat_id);
-- A helper leader the deal's leader invited (/helpsell), once they accepted the link.
CREATE TABLE deal_helpers (
    deal_id INTEGER NOT NULL REFERENCES deals (id),
    helper_id INTEGER NOT NULL,
    commission INTEGER NOT NULL CHECK (commission BETWEEN 0 AND 10000),
    invited_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (deal_id, helper_id)
);
-- Separate rounds and stock in each group (`stock: per-group`): the copies posted in the
-- other groups name the deal they were made from.
ALTER TABLE deals ADD COLUMN stock_scope TEXT NOT NULL DEFAULT 'shared'
    CHECK (stock_scope IN ('shared', 'per-group'));
ALTER TABLE deals ADD COLUMN copied_from INTEGER REFERENCES deals (id);
-- The group an order came through, when it is not the deal's own.
ALTER TABLE orders ADD COLUMN via_chat_id INTEGER;
-- A further group's summary reads the orders that came through it.
CREATE INDEX orders_through_group ON orders (via_chat_id) WHERE via_chat_id IS NOT NULL;

-- The ledger learns a fourth kind, a helper's commission: SQLite cannot change a CHECK,
-- so the table is made anew with every entry, index and trigger as it was.
CREATE TABLE ledger_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id     INTEGER NOT NULL REFERENCES groups (chat_id),
    user_id     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('reward', 'reversal', 'payout', 'commission')),
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    order_id    INTEGER REFERENCES orders (id),
    level       INTEGER CHECK (level IS NULL OR level BETWEEN 1 AND 3),
    reverses_id INTEGER REFERENCES ledger_new (id),
    by_user     INTEGER,
    created_at  INTEGER NOT NULL
);
INSERT INTO ledger_new SELECT id, chat_id, user_id, kind, amount, currency, order_id, level,
    reverses_id, by_user, created_at FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE INDEX ledger_by_member ON ledger (chat_id, user_id);
CREATE UNIQUE INDEX ledger_one_reward ON ledger (order_id, user_id, level) WHERE kind = 'reward';
CREATE UNIQUE INDEX ledger_one_reversal ON ledger (reverses_id) WHERE kind = 'reversal';
-- A helper's commission on an order is credited once.
CREATE UNIQUE INDEX ledger_one_commission ON ledger (order_id) WHERE kind = 'commission';
CREATE TRIGGER ledger_no_update
BEFORE UPDATE OF id, user_id, kind, amount, currency, order_id, level, reverses_id, by_user,
    created_at ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
