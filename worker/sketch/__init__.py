"""The offline sketch renderer: generative art from a prompt and a seed, in numpy and Pillow.

No model and no download: the prompt's colour, thing and mood words choose the palette
(`palette`), the style chooses the composition, and the seed drives every random choice, so
the same prompt, seed, style and size always give the same picture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from worker.sketch.canvas import Canvas, finish
from worker.sketch.geometric import mosaic, shapes
from worker.sketch.landscape import landscape
from worker.sketch.painterly import flow, washes
from worker.sketch.palette import Palette, palette_for, words_of

Composition = Callable[[Canvas], np.ndarray]


def _ink(canvas: Canvas) -> np.ndarray:
    return landscape(canvas, ink=True)


COMPOSITIONS: dict[str, Composition] = {
    "flow": flow,
    "watercolour": washes,
    "mosaic": mosaic,
    "shapes": shapes,
    "landscape": landscape,
    "ink": _ink,
}
# Catalogue styles that name a look rather than a composition.
STYLE_ALIASES = {"painting": "watercolour", "photo": "landscape"}
# Words that suggest a composition when the style is "any".
HINTS: dict[str, str] = {
    **dict.fromkeys(
        ("mountain", "mountains", "hills", "valley", "sea", "ocean", "lake", "horizon", "dunes"),
        "landscape",
    ),
    **dict.fromkeys(("wind", "river", "wave", "waves", "smoke", "hair", "current"), "flow"),
    **dict.fromkeys(("city", "tile", "tiles", "glass", "window", "cathedral", "pixel"), "mosaic"),
    **dict.fromkeys(("flower", "flowers", "bloom", "garden", "rain", "petals"), "watercolour"),
    **dict.fromkeys(("bauhaus", "geometry", "poster", "circle", "circles"), "shapes"),
}


@dataclass(frozen=True)
class Sketch:
    pixels: np.ndarray  # (height, width, 3) uint8
    composition: str
    palette: Palette


def composition_for(style: str, prompt: str, seed: int) -> str:
    style = STYLE_ALIASES.get(style, style)
    if style in COMPOSITIONS:
        return style
    for word in words_of(prompt):
        if word in HINTS:
            return HINTS[word]
    names = sorted(COMPOSITIONS)
    return names[seed % len(names)]


def render(prompt: str, seed: int, *, style: str = "any", size: tuple[int, int]) -> Sketch:
    """A picture `size` = (width, height) pixels for the prompt, reproducible per seed."""
    width, height = size
    name = composition_for(style, prompt, seed)
    digest = hashlib.sha256(f"{prompt.strip().lower()}\x1f{name}".encode()).digest()
    rng = np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])
    pal = palette_for(prompt, rng)
    canvas = Canvas(width, height, pal, rng, frozenset(words_of(prompt)))
    img = COMPOSITIONS[name](canvas).astype(np.float32, copy=False)
    return Sketch(finish(canvas, img), name, pal)
