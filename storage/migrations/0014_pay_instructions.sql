-- Paying without a provider: a group's payment instructions (a transfer note) and its
-- payment QR image (a Telegram file_id, e.g. a WeChat Pay or Alipay 收款码), shown with
-- each confirmed order (/settings pay note …, a photo captioned /settings pay).
ALTER TABLE groups ADD COLUMN pay_note TEXT;
ALTER TABLE groups ADD COLUMN pay_qr TEXT;
