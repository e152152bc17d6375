-- Timed sales (秒杀): a deal may open at a later time. starts_at NULL (every deal posted
-- before) means open at once; opened_at records that the opening was announced, once.
ALTER TABLE deals ADD COLUMN starts_at BIGINT;
ALTER TABLE deals ADD COLUMN opened_at BIGINT;
