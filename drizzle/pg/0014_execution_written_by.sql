-- Who wrote what steered each run, as it ran (src/engine/store.ts, turnWriters): a run that
-- continues a session counts the writers of its earlier turns as they were, not the agent's and
-- the space's as they are by then. Null for earlier rows.
ALTER TABLE "executions" ADD COLUMN "written_by" jsonb;