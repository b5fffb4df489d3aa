"""Atelier's platform-neutral core: commands, jobs, queue, rendering, settings and the CLI."""

__version__ = "0.1.0"
