-- Idempotency keys are stored as their SHA-256 (hex) from now on, never as sent
-- (src/idempotency/service.ts, keyDigest): a key holding part of a token, or any secret, sat
-- in this table in plaintext for a day. The rows stored before are rehashed the same way
-- (keys are printable ASCII, so their UTF-8 bytes are the bytes Bun hashes): a retry across
-- the upgrade still gets its replay or 409.
UPDATE "idempotency_keys" SET "key" = encode(sha256(convert_to("key", 'UTF8')), 'hex');
