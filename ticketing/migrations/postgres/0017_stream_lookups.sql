-- What a lawyer's offer stream reads at each wake, found by index bounds
-- instead of by walking the lawyer's whole history.
--
-- Events after the stream's cursor in (txid, id) order: the index on
-- (lawyer, id) found every event of the lawyer and filtered the cursor,
-- hundreds of rows per read once a lawyer had a day's offers.
CREATE INDEX ticket_events_lawyer_txid ON ticket_events (lawyer, txid, id);
DROP INDEX ticket_events_lawyer;

-- The offers to the lawyer of the tickets those events name.
CREATE INDEX offers_lawyer_ticket ON offers (lawyer_id, ticket_id);
