-- Idempotency keys are stored as their SHA-256 (hex) from now on, never as sent
-- (src/idempotency/service.ts, keyDigest): a key holding part of a token, or any secret, sat
-- in this table in plaintext for a day. SQLite's SQL has no SHA-256 to rehash the rows stored
-- before, so they are deleted (they lived 24 h at most): a retry sent after the upgrade with a
-- key first used before it runs as a new request.
DELETE FROM `idempotency_keys`;
