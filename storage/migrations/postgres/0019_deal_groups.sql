-- One deal in several groups (/share, `groups:` in the form), and helper leaders (帮卖).
-- The deal's own group keeps its card in deals.card_message_id; each further group that
-- shows the deal has a row here with its card. A helper leader's group carries who
-- helps and their commission in basis points of each order's value.
CREATE TABLE deal_groups (
    deal_id BIGINT NOT NULL REFERENCES deals (id),
    chat_id BIGINT NOT NULL,
    card_message_id BIGINT,
    helper_id BIGINT,
    commission INTEGER NOT NULL DEFAULT 0 CHECK (commission BETWEEN 0 AND 10000),
    added_by BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (deal_id, chat_id)
);
CREATE INDEX deal_groups_by_chat ON deal_groups (chat_id);
-- A helper leader the deal's leader invited (/helpsell), once they accepted the link.
CREATE TABLE deal_helpers (
    deal_id BIGINT NOT NULL REFERENCES deals (id),
    helper_id BIGINT NOT NULL,
    commission INTEGER NOT NULL CHECK (commission BETWEEN 0 AND 10000),
    invited_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (deal_id, helper_id)
);
-- Separate rounds and stock in each group (`stock: per-group`): the copies posted in the
-- other groups name the deal they were made from.
ALTER TABLE deals ADD COLUMN stock_scope TEXT NOT NULL DEFAULT 'shared'
    CHECK (stock_scope IN ('shared', 'per-group'));
ALTER TABLE deals ADD COLUMN copied_from BIGINT REFERENCES deals (id);
-- The group an order came through, when it is not the deal's own.
ALTER TABLE orders ADD COLUMN via_chat_id BIGINT;
-- A further group's summary reads the orders that came through it.
CREATE INDEX orders_through_group ON orders (via_chat_id) WHERE via_chat_id IS NOT NULL;
-- The ledger learns a fourth kind, a helper's commission, credited once per order.
ALTER TABLE ledger DROP CONSTRAINT ledger_kind_check;
ALTER TABLE ledger ADD CONSTRAINT ledger_kind_check
    CHECK (kind IN ('reward', 'reversal', 'payout', 'commission'));
CREATE UNIQUE INDEX ledger_one_commission ON ledger (order_id) WHERE kind = 'commission';
