-- Round-robin among equally loaded lawyers reads each lawyer's latest offer
-- from the offers themselves. Writing it onto the lawyer's row made every
-- offer to that lawyer update one hot row, so concurrent tickets queued on
-- its row lock.
CREATE INDEX offers_lawyer_offered ON offers (lawyer_id, offered_at);
ALTER TABLE lawyers DROP COLUMN last_offer_at;
