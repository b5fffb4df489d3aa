"""Text-decoding internals: the continuous batcher, per-job sampling, form and bar masks."""
