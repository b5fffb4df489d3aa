"""Generation: the batching worker loop and the generators it drives."""
