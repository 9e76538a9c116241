-- A callback ticket (a caller who hung up after choosing a service) keeps
-- the menu node where the caller stopped.
ALTER TABLE tickets ADD COLUMN last_node TEXT;
