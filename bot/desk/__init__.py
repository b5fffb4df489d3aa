"""The front desk: validates, moderates and admits a command, then enqueues its job."""
