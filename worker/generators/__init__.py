"""Generators: one small interface (`load`, `warmup`, `generate`), no Redis."""
