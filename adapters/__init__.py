"""Front ends that turn platform events into jobs and results into messages."""
