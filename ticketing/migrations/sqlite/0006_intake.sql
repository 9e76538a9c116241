-- Legal intake: the document that starts a procedural deadline, a rule
-- chosen by id, advance enforcement, the article a hardship claim rests on,
-- the caller's willingness to pledge (renamed: the hotline records an
-- offer, it accepts nothing), and the art. 43 clocks' durable alerts.
ALTER TABLE tickets RENAME COLUMN pledge_accepted TO pledge_offered;
ALTER TABLE tickets ADD COLUMN document TEXT;
ALTER TABLE tickets ADD COLUMN chosen_rule TEXT;
ALTER TABLE tickets ADD COLUMN advance_enforcement INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN hardship_basis TEXT;
-- When the application's materials were marked received (ms); the decision
-- clock (decision_due) starts then.
ALTER TABLE tickets ADD COLUMN materials_received_at INTEGER;
-- When the overdue decision or assignment was alerted (ms): each alert goes
-- out once per clock; a restarted clock clears it.
ALTER TABLE tickets ADD COLUMN decision_alerted_at INTEGER;
ALTER TABLE tickets ADD COLUMN assignment_alerted_at INTEGER;

-- The group's name is `military` now (veterans, servicemen, military families).
UPDATE tickets SET priority_group = 'military' WHERE priority_group = 'veteran';

-- Applications registered before this version had their decision clock
-- started at the call; they keep it, as if their materials were in.
UPDATE tickets SET materials_received_at = created_at WHERE decision_due IS NOT NULL;

CREATE INDEX tickets_decision_due ON tickets (decision_due);
CREATE INDEX tickets_assignment_due ON tickets (assignment_due);
