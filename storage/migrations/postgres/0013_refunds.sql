-- Refunds: a paid order that is cancelled (its deal cancelled) is owed back to the member
-- until a leader marks it refunded (/refunds). Telegram has no refund call for provider
-- payments, so the bot keeps the list; the amount is the order's.
ALTER TABLE orders ADD COLUMN refund_due_at BIGINT;
ALTER TABLE orders ADD COLUMN refunded_at BIGINT;
ALTER TABLE orders ADD COLUMN refunded_by BIGINT;
