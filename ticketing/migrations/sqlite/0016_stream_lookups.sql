-- The offers to a lawyer of the tickets their stream's events name, found
-- by index bounds instead of by walking every offer the lawyer has had.
CREATE INDEX offers_lawyer_ticket ON offers (lawyer_id, ticket_id);
