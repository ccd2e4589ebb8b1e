-- What a run continuing a session left out of the model's input under TEAMDAY_MAX_HISTORY_CHARS
-- ({turnsSent, turnsOmitted, charsSent, maxChars}; src/engine), shown as the execution's
-- historyTrimmed. Null when nothing was left out, and for runs before this migration.
ALTER TABLE `executions` ADD `history_trimmed` text;