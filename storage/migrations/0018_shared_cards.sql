-- Deal cards shared into other chats through inline mode (`@bot` in any chat). Each copy
-- by the inline_message_id Telegram gave it (the bot edits it by that id), the deal it
-- shows, who shared it (attributed as the referrer of whoever joins through it; NULL when
-- the copy was first seen in a tap, Telegram having sent no chosen_inline_result), and
-- when it stopped being kept current (retired: beyond the latest copies of its deal).
CREATE TABLE shared_cards (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    inline_message_id TEXT NOT NULL UNIQUE,
    deal_id           INTEGER NOT NULL REFERENCES deals (id),
    sharer_id         INTEGER,
    created_at        INTEGER NOT NULL,
    retired_at        INTEGER
);
CREATE INDEX shared_cards_live ON shared_cards (deal_id, id) WHERE retired_at IS NULL;
