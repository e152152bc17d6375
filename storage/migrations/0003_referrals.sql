-- Referrals: who brought whom to a group, the append-only reward ledger, group invites,
-- and the group settings that price rewards.

-- 'fixed' pays reward_value minor units per confirmed referred order; 'percent' pays
-- reward_value basis points (1/100 of a percent) of the order's value. 0 pays nothing.
ALTER TABLE groups ADD COLUMN reward_kind TEXT NOT NULL DEFAULT 'percent'
    CHECK (reward_kind IN ('fixed', 'percent'));
ALTER TABLE groups ADD COLUMN reward_value INTEGER NOT NULL DEFAULT 0 CHECK (reward_value >= 0);
ALTER TABLE groups ADD COLUMN levels INTEGER NOT NULL DEFAULT 1 CHECK (levels BETWEEN 1 AND 3);

-- A member brought to a group by a referrer; the first attribution wins.
CREATE TABLE referrals (
    chat_id     INTEGER NOT NULL REFERENCES groups (chat_id),
    referee_id  INTEGER NOT NULL,
    referrer_id INTEGER NOT NULL CHECK (referrer_id <> referee_id),
    deal_id     INTEGER REFERENCES deals (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, referee_id)
);
CREATE INDEX referrals_by_referrer ON referrals (chat_id, referrer_id);

-- The referrer an order is credited to, fixed when the order is placed.
ALTER TABLE orders ADD COLUMN referrer_id INTEGER;

-- Append-only: a balance is the sum of a member's entries in a group. A reward is
-- undone by a reversal entry that points at it, never by editing or deleting it.
CREATE TABLE ledger (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id     INTEGER NOT NULL REFERENCES groups (chat_id),
    user_id     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('reward', 'reversal', 'payout')),
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    order_id    INTEGER REFERENCES orders (id),
    level       INTEGER CHECK (level IS NULL OR level BETWEEN 1 AND 3),
    reverses_id INTEGER REFERENCES ledger (id),
    by_user     INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX ledger_by_member ON ledger (chat_id, user_id);
CREATE UNIQUE INDEX ledger_one_reward ON ledger (order_id, user_id, level) WHERE kind = 'reward';
CREATE UNIQUE INDEX ledger_one_reversal ON ledger (reverses_id) WHERE kind = 'reversal';

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

-- Members added to a group by another member (from Telegram's chat member updates).
CREATE TABLE group_invites (
    chat_id    INTEGER NOT NULL,
    invitee_id INTEGER NOT NULL,
    inviter_id INTEGER NOT NULL CHECK (inviter_id <> invitee_id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, invitee_id)
);
CREATE INDEX group_invites_by_inviter ON group_invites (chat_id, inviter_id);
