-- /forgetme: a member's personal fields are blanked, their orders and ledger entries
-- stay under their user id, shown as "Forgotten member #N" (forgotten_number).
ALTER TABLE members ADD COLUMN forgotten_number INTEGER;
ALTER TABLE members ADD COLUMN forgotten_at INTEGER;
