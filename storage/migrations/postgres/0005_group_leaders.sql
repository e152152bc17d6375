-- Leaders a group names itself (PostgreSQL).
CREATE TABLE group_leaders (
    chat_id  BIGINT NOT NULL REFERENCES groups (chat_id),
    user_id  BIGINT NOT NULL,
    added_by BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);
