-- Custom SQL migration file, put your code below! --
-- executions.seq of the rows 0010 found (DEFAULT 0): their rowid, the creation order that
-- inserts from now on continue (max(rowid) + 1: src/engine/store.ts insertExecution).
UPDATE `executions` SET `seq` = rowid;
