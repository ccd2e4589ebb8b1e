-- Custom SQL migration file, put your code below! --
-- 0014 rebuilt `executions` (agent_id nullable): the copy gave the rows new rowids, 1..n in
-- their old rowid order (= seq order). New rows take max(rowid) + 1 as their seq
-- (src/engine/store.ts insertExecution): renumbering seq to the new rowids keeps the creation
-- order and keeps every later seq above every earlier one.
UPDATE `executions` SET `seq` = rowid;
