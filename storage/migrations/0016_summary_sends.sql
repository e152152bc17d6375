-- Daily summaries, leader by leader. A worker claims one leader's summary for a while (a
-- lease it renews as it goes), notes each message as it goes out, and marks the leader
-- done after the last; a claim whose lease ran out (its worker was killed) is taken
-- again by whichever worker comes next, which resumes after the messages already sent.
-- So a restart loses no summary, and two workers never both send one.
CREATE TABLE summary_sends (
    chat_id       INTEGER NOT NULL,
    day           TEXT    NOT NULL,
    user_id       INTEGER NOT NULL,
    claimed_by    TEXT    NOT NULL,
    claimed_until INTEGER NOT NULL,
    parts_sent    INTEGER NOT NULL DEFAULT 0,
    sent_at       INTEGER,
    PRIMARY KEY (chat_id, day, user_id)
);
