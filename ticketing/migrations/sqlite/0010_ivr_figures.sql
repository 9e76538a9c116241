-- The IVR's call-flow counts per day (YYYY-MM-DD, China Standard Time),
-- center and menu node, as each IVR node reports them: totals of one run
-- of the node (`boot`), replaced by every report of that run, so a report
-- sent twice adds nothing. Statistics add up the runs. updated_at is
-- milliseconds since the Unix epoch, passed in by the service.
CREATE TABLE ivr_figures (
    ivr_node   TEXT   NOT NULL,
    boot       TEXT   NOT NULL,
    day        TEXT   NOT NULL,
    center     TEXT   NOT NULL,
    node       TEXT   NOT NULL,
    entered    BIGINT NOT NULL,
    completed  BIGINT NOT NULL,
    abandoned  BIGINT NOT NULL,
    invalid    BIGINT NOT NULL,
    timeouts   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (ivr_node, boot, day, center, node)
);
CREATE INDEX ivr_figures_day ON ivr_figures (day, center);
