-- Leaders a group names itself (/settings leaders add …), besides its administrators.
CREATE TABLE group_leaders (
    chat_id  INTEGER NOT NULL REFERENCES groups (chat_id),
    user_id  INTEGER NOT NULL,
    added_by INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);
