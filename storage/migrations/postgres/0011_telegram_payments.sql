-- Telegram Payments: a group's way to collect (/settings pay invoice|off), and the
-- charge ids Telegram and the provider gave an order paid by invoice (set once).
ALTER TABLE groups ADD COLUMN pay TEXT NOT NULL DEFAULT 'off' CHECK (pay IN ('off', 'invoice'));
ALTER TABLE orders ADD COLUMN telegram_payment_charge_id TEXT;
ALTER TABLE orders ADD COLUMN provider_payment_charge_id TEXT;
