-- A job's earlier file parts, oldest first, as JSON: when the node running
-- a recording dies, another node takes it over into a new file, and the
-- file written so far stays a part of the recording, with the gap after it.
ALTER TABLE egress ADD COLUMN parts TEXT NOT NULL DEFAULT '[]';
