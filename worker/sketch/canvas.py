"""Raster helpers for the sketch renderer: smooth noise, blur, gradients, grain.

Images are float32 arrays, (height, width, 3) in [0, 1]; masks are (height, width). Smooth
fields come from small random grids enlarged with Pillow's bicubic filter, which is fast
and makes gentle, organic variation without a noise library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from worker.sketch.palette import RGB, Palette


@dataclass
class Canvas:
    width: int
    height: int
    palette: Palette
    rng: np.random.Generator
    words: frozenset[str]
    sky: RGB | None = None  # the sky's colour when the prompt binds one ("crimson sky")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates: (y, x), each (height, width) float32."""
        ys = np.arange(self.height, dtype=np.float32)[:, None] + 0.5
        xs = np.arange(self.width, dtype=np.float32)[None, :] + 0.5
        return np.broadcast_to(ys, self.shape), np.broadcast_to(xs, self.shape)

    def fill(self, colour: RGB) -> np.ndarray:
        return np.broadcast_to(np.array(colour, np.float32), (*self.shape, 3)).copy()

    def noise(self, scale: float, octaves: int = 3) -> np.ndarray:
        return noise(self.rng, self.shape, scale, octaves)


def enlarge(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A 2-D float field resized to `shape` (height, width) with a bicubic filter."""
    img = Image.fromarray(np.ascontiguousarray(small, dtype=np.float32), mode="F")
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BICUBIC))


def noise(
    rng: np.random.Generator, shape: tuple[int, int], scale: float, octaves: int = 3
) -> np.ndarray:
    """Fractal value noise in [0, 1]: features about `scale` pixels wide, finer octaves
    at half the amplitude each."""
    h, w = shape
    total = np.zeros(shape, np.float32)
    amp, weight = 1.0, 0.0
    for _ in range(octaves):
        cells = (max(2, round(h / scale) + 2), max(2, round(w / scale) + 2))
        total += amp * enlarge(rng.random(cells, dtype=np.float32), shape)
        weight += amp
        amp *= 0.5
        scale /= 2
    total /= weight
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def noise1d(rng: np.random.Generator, length: int, scale: float, octaves: int = 4) -> np.ndarray:
    """Fractal noise along a line, in [-1, 1] (ridge lines, horizons)."""
    total = np.zeros(length, np.float32)
    amp, weight = 1.0, 0.0
    xs = np.arange(length, dtype=np.float32)
    for _ in range(octaves):
        n = max(2, int(length / scale) + 3)
        knots = rng.uniform(-1, 1, n).astype(np.float32)
        pos = xs / scale
        i = np.floor(pos).astype(int)
        f = pos - i
        f = f * f * (3 - 2 * f)  # smoothstep between knots
        total += amp * (knots[i] * (1 - f) + knots[i + 1] * f)
        weight += amp
        amp *= 0.5
        scale /= 2.1
    return total / weight


def blur(field: np.ndarray, radius: float) -> np.ndarray:
    """A soft blur: shrink by `radius` with a box filter, enlarge back bicubically."""
    h, w = field.shape
    small = (max(1, round(w / radius)), max(1, round(h / radius)))
    img = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32), mode="F")
    shrunk = img.resize(small, Image.Resampling.BOX)
    return np.asarray(shrunk.resize((w, h), Image.Resampling.BICUBIC))


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def coverage(distance: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a shape from its signed distance in pixels (< 0 inside)."""
    return np.clip(0.5 - distance, 0.0, 1.0)


def paint(img: np.ndarray, mask: np.ndarray, colour: RGB | np.ndarray) -> None:
    """Lay `colour` over `img` where `mask` (0..1) says, in place."""
    col = np.asarray(colour, np.float32)
    img += (col - img) * mask[..., None]


def vertical_gradient(canvas: Canvas, top: RGB, bottom: RGB, curve: float = 1.0) -> np.ndarray:
    t = np.linspace(0.0, 1.0, canvas.height, dtype=np.float32) ** curve
    col = (
        np.array(top, np.float32)
        + (np.array(bottom, np.float32) - np.array(top, np.float32)) * (t[:, None])
    )
    return np.broadcast_to(col[:, None, :], (*canvas.shape, 3)).copy()


def finish(canvas: Canvas, img: np.ndarray, grain: float = 0.014) -> np.ndarray:
    """Paper grain and a gentle vignette, then 8-bit RGB."""
    y, x = canvas.grid()
    cy, cx = canvas.height / 2, canvas.width / 2
    r = ((y - cy) / cy) ** 2 + ((x - cx) / cx) ** 2
    img *= (1.0 - 0.12 * np.clip(r - 0.35, 0.0, None))[..., None]
    fine = canvas.rng.standard_normal(canvas.shape, dtype=np.float32)
    img += (grain * fine)[..., None]
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
