-- The ledger stays append-only in every column but chat_id (PostgreSQL): a group that
-- becomes a supergroup takes its ledger along to the new chat id.
DROP TRIGGER ledger_no_update ON ledger;
CREATE TRIGGER ledger_no_update
    BEFORE UPDATE OF id, user_id, kind, amount, currency, order_id, level, reverses_id,
        by_user, created_at ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
