-- Every record is sealed with the server's key (see src/seal.rs).
ALTER TABLE log ADD COLUMN mac TEXT;
