"""Models that ship with Atelier, trained by its own `atelier train` (see each model card)."""

from __future__ import annotations

from pathlib import Path

BUNDLED_POET = Path(__file__).resolve().parent / "poet"


def bundled_poet() -> Path | None:
    """The bundled offline poet, when this installation has it."""
    return BUNDLED_POET if (BUNDLED_POET / "config.json").exists() else None
