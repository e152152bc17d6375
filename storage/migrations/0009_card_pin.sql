-- Deal cards pinned where a group asks for it (/settings pin on): the setting, whether
-- the group's leaders were told the bot may not pin (once until the setting is turned
-- on again), and which cards the bot pinned (unpinned when the deal ends).
ALTER TABLE groups ADD COLUMN pin INTEGER NOT NULL DEFAULT 0 CHECK (pin IN (0, 1));
ALTER TABLE groups ADD COLUMN pin_warned INTEGER NOT NULL DEFAULT 0
    CHECK (pin_warned IN (0, 1));
ALTER TABLE deals ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1));
-- How many members a round had when it closed: a closed card says "3 of 5 joined" of a
-- round that failed, whose orders (cancelled) look like those of members who left.
-- Rounds closed before this migration: their live orders, and those cancelled at the
-- moment the round closed.
ALTER TABLE rounds ADD COLUMN joined INTEGER;
UPDATE rounds SET joined = (
    SELECT COUNT(DISTINCT o.user_id) FROM orders o WHERE o.round_id = rounds.id
    AND (o.status <> 'cancelled' OR o.updated_at = rounds.closed_at)
) WHERE status IN ('formed', 'failed');
