"""The queue: job streams, fairness, limits, the results inbox, artifacts, dead letters."""
