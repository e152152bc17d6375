-- A formed round's messages, owed until noted: the group announcement (rounds.announced_at)
-- and each confirmed order's confirmation or invoice (orders.confirm_sent_at). The closing
-- transaction leases them to the closing worker (rounds.notice_lease_until), each note
-- renews the lease, and the lease is cleared once nothing is owed. A lease that ran out
-- (its worker was killed) is taken over by the next worker's sweep, which sends only what
-- was not noted. What exists before this upgrade was already sent (or never will be): it
-- is marked so, and nothing old is sent again. Orders still pending and open rounds are
-- not marked: their messages are owed when their round forms.
ALTER TABLE rounds ADD COLUMN announced_at INTEGER;
ALTER TABLE rounds ADD COLUMN notice_lease_until INTEGER;
ALTER TABLE orders ADD COLUMN confirm_sent_at INTEGER;
UPDATE rounds SET announced_at = COALESCE(closed_at, opened_at) WHERE status <> 'open';
UPDATE orders SET confirm_sent_at = updated_at WHERE status <> 'pending';
CREATE INDEX rounds_notices_leased ON rounds (notice_lease_until)
    WHERE notice_lease_until IS NOT NULL;
