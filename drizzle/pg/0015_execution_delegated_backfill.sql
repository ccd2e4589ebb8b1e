-- Delegated children recorded unflagged (SQLite's 0027 says why: builds before its 0009 added
-- executions.delegated as false for every row), copied here by `teamday migrate-data` from a SQLite
-- database that had them: flagged as their parent's log names them (event `delegated`,
-- data.childExecutionId), so GET /api/v1/chats no longer lists each as a chat of its own.
UPDATE "executions" SET "delegated" = true
WHERE "delegated" = false AND "id" IN (
  SELECT "data"->>'childExecutionId' FROM "execution_logs" WHERE "event" = 'delegated'
);
