-- The payment window (/settings paywithin 24h): a confirmed order still unpaid that long
-- after its round formed is released. pay_within is the window in seconds (0: off, the
-- default); pay_within_at is when the leader last set it: an order confirmed before then
-- counts its window from that moment.
ALTER TABLE groups ADD COLUMN pay_within INTEGER NOT NULL DEFAULT 0 CHECK (pay_within >= 0);
ALTER TABLE groups ADD COLUMN pay_within_at INTEGER NOT NULL DEFAULT 0;
-- The one reminder before the window ends, sent once (whichever worker sets this first).
ALTER TABLE orders ADD COLUMN pay_reminded_at INTEGER;
-- Why an order was cancelled, where it matters: 'unpaid' is an order released when its
-- payment window ended (at released_at); other cancellations leave it NULL.
ALTER TABLE orders ADD COLUMN cancel_reason TEXT;
ALTER TABLE orders ADD COLUMN released_at INTEGER;
-- What the periodic sweep reads: confirmed orders not yet paid.
CREATE INDEX orders_awaiting_payment ON orders (deal_id)
    WHERE status = 'confirmed' AND paid_at IS NULL;
