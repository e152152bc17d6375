-- The ledger stays append-only in every column but chat_id: a group that becomes a
-- supergroup takes its ledger along to the new chat id.
DROP TRIGGER ledger_no_update;
CREATE TRIGGER ledger_no_update
BEFORE UPDATE OF id, user_id, kind, amount, currency, order_id, level, reverses_id, by_user,
    created_at ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
