-- Delegated children of the builds before 0009_execution_queue: that migration added
-- executions.delegated as false for every row, so a `delegate` call's child recorded before it
-- counted as a top-level run of its user: GET /api/v1/chats listed each sub-agent's run as a chat
-- of its own (its chatId is the parent's chat, run and agent), in the total too. The children are
-- the ones their parent's log names (event `delegated`, data.childExecutionId); a run attached to
-- a parent through the API's parentExecutionId is no child of a delegation and stays as it is.
UPDATE `executions` SET `delegated` = true
WHERE `delegated` = false AND `id` IN (
  SELECT CASE WHEN json_valid(`data`) THEN json_extract(`data`, '$.childExecutionId') END
  FROM `execution_logs` WHERE `event` = 'delegated'
);
