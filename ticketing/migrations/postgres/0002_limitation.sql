-- What the limitation calculator decided for a ticket, and the Legal Aid
-- Law art. 43 clocks. Dates are 'YYYY-MM-DD' in Asia/Shanghai.
ALTER TABLE tickets ADD COLUMN limitation_rule TEXT;
ALTER TABLE tickets ADD COLUMN limitation_warnings TEXT;
ALTER TABLE tickets ADD COLUMN decision_due TEXT;
ALTER TABLE tickets ADD COLUMN assignment_due TEXT;

CREATE INDEX tickets_open_deadline ON tickets (state, deadline);

-- Jobs that must run once a day across all ticketing nodes: a node runs the
-- job only if it moves `last_run_on` forward itself.
CREATE TABLE scheduled_runs (
    job         TEXT PRIMARY KEY,
    last_run_on TEXT NOT NULL
);
