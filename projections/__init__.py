"""Pure folds of the event log into what the app shows: WAL rows, the status card, the gate."""
