-- Legal intake: the document that starts a procedural deadline, a rule
-- chosen by id, advance enforcement, the article a hardship claim rests on,
-- the caller's willingness to pledge (renamed: the hotline records an
-- offer, it accepts nothing), and the art. 43 clocks' durable alerts.
ALTER TABLE tickets RENAME COLUMN pledge_accepted TO pledge_offered;
ALTER TABLE tickets ADD COLUMN document TEXT;
ALTER TABLE tickets ADD COLUMN chosen_rule TEXT;
ALTER TABLE tickets ADD COLUMN advance_enforcement INTEGER NOT NULL DEFAULT 0
    CHECK (advance_enforcement IN (0, 1));
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
-- started at the call, which art. 43 does not say: nobody recorded their
-- materials, so their clock waits, like a new application's, until an
-- operator marks the materials received (an earlier date would alert at
-- once, and telling callers their materials are in would be untrue).
UPDATE tickets SET decision_due = NULL WHERE state = 'application';

CREATE INDEX tickets_decision_due ON tickets (decision_due);
CREATE INDEX tickets_assignment_due ON tickets (assignment_due);
