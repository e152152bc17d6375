-- Four languages: Chinese becomes Simplified (zh-Hans) beside Traditional (zh-Hant) and
-- Russian; a member may choose their own language privately (/lang), over Telegram's.
UPDATE groups SET lang = 'zh-Hans' WHERE lang = 'zh';
ALTER TABLE members ADD COLUMN lang TEXT;
