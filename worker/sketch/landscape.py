"""Layered landscapes: a sky, a sun or moon, ridges receding into haze, water that mirrors
them; and the same in ink, for a brush-and-paper look."""

from __future__ import annotations

import numpy as np

from worker.sketch.canvas import (
    Canvas,
    blur,
    coverage,
    enlarge,
    noise1d,
    paint,
    vertical_gradient,
)
from worker.sketch.palette import COLOURS, RGB, luminance, mix, shade

WATER_WORDS = frozenset({"sea", "ocean", "lake", "river", "water", "harbour", "harbor", "bay"})
ASKED_DISCS = frozenset({"sun", "moon"})
MOON_WORDS = frozenset({"moon", "night", "midnight", "stars", "nocturne"})


def landscape(canvas: Canvas, *, ink: bool = False) -> np.ndarray:
    pal, rng = canvas.palette, canvas.rng
    h, w = canvas.shape
    y, x = canvas.grid()
    night = pal.dark or bool(canvas.words & MOON_WORDS)
    cols = sorted(pal.colours, key=luminance)  # dark to light
    if ink:
        # Black ink, or the ink of the colour the prompt names.
        named = [w for w in pal.words if w in COLOURS]
        ink_black: RGB = shade(pal.colours[0], 0.7) if named else (0.09, 0.09, 0.11)
        paper = (0.95, 0.93, 0.88)
        sky_top, horizon = paper, mix(paper, ink_black, 0.08)
        haze = mix(paper, ink_black, 0.05)
    elif night:
        # A dark sky that brightens towards the horizon; hills stand out as silhouettes.
        sky_top = shade(pal.ground, 0.9)
        horizon = mix(pal.ground, cols[-1], 0.55)
        haze = horizon
    else:
        sky_top = mix(cols[-1], (1.0, 1.0, 1.0), 0.35)
        horizon = mix(pal.ground, cols[len(cols) // 2], 0.3)
        haze = mix(horizon, (1.0, 1.0, 1.0), 0.3)
    if canvas.sky is not None and not ink:
        sky_top, horizon = shade(canvas.sky, 0.8), mix(canvas.sky, (1.0, 0.95, 0.9), 0.25)
    elif canvas.sky is not None:
        sky_top, horizon = mix(paper, canvas.sky, 0.45), mix(paper, canvas.sky, 0.3)
    img = vertical_gradient(canvas, sky_top, horizon, curve=0.8)

    if night and not ink:
        stars = rng.random((h, w), dtype=np.float32)
        twinkle = np.where(stars > 0.9985, rng.uniform(0.4, 1.0, (h, w)), 0.0).astype(np.float32)
        twinkle *= np.clip(1.2 - y / (0.6 * h), 0, 1)
        paint(img, blur(twinkle, 1.5) * 2.0 + twinkle * 0.6, (1.0, 0.98, 0.9))

    # The sun or moon, with a soft glow around it.
    sx, sy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.12, 0.3) * h
    radius = rng.uniform(0.05, 0.09) * min(w, h)
    disc_col: RGB = (
        (0.97, 0.95, 0.86) if night else shade(mix(cols[-1], (1.0, 0.72, 0.38), 0.6), 1.0, 1.3)
    )
    if ink:
        disc_col = (0.8, 0.28, 0.2)  # a vermilion sun, as in ink painting
    dist = np.sqrt((x - sx) ** 2 + (y - sy) ** 2)
    if not canvas.words & ASKED_DISCS:  # an asked sun or moon is drawn by the scene
        if not ink:
            paint(img, 0.45 * np.exp(-((dist / (radius * 3.5)) ** 2)), disc_col)
        paint(img, coverage(dist - radius), disc_col)

    water = bool(canvas.words & WATER_WORDS)
    layers = int(rng.integers(4, 7))
    bottom = h * (0.72 if water else 1.0)
    for i in range(layers):
        t = (i + 1) / layers  # 0 far .. 1 near
        base = h * (0.42 + 0.4 * t) * (bottom / h) + (0.0 if not water else -0.02 * h)
        amp = h * (0.05 + 0.12 * (1 - t) * rng.uniform(0.6, 1.3))
        ridge = base - amp * (0.6 + noise1d(rng, w, scale=w * (0.35 - 0.2 * t), octaves=5))
        tone = t * (0.7 if water else 1.0)  # across water, even the nearest hills are far
        if ink:
            layer_col = mix(haze, ink_black, 0.2 + 0.75 * tone**1.3)
        elif night:
            layer_col = mix(haze, shade(cols[0], 0.45, 0.8), 0.35 + 0.65 * tone)
        else:
            pick = cols[min(int((1 - tone) * len(cols)), len(cols) - 1)]
            layer_col = mix(haze, shade(pick, 0.55 + 0.35 * (1 - tone)), 0.3 + 0.7 * tone)
        inside = coverage(ridge[None, :] - y)
        # Mist gathers in the valley below each ridge: lighter towards its foot.
        depth = np.clip((y - ridge[None, :]) / (0.18 * h), 0.0, 1.0)
        mist = (depth**1.5) * (0.55 if ink else 0.35) * (1 - 0.5 * t)
        paint(img, inside, layer_col)
        paint(img, inside * mist, haze)
    if water:
        _water(canvas, img, int(bottom), haze)
    if ink:
        _seal(canvas, img)
    return img


def _water(canvas: Canvas, img: np.ndarray, line: int, haze: RGB) -> None:
    """Below `line`, a rippled and darkened mirror of what is above it."""
    h, w = canvas.shape
    rows = np.arange(line, h)
    src = np.clip(2 * line - rows - 1, 0, h - 1)
    ripple = (np.sin(rows * 0.9) * 0.5 + canvas.rng.uniform(-1, 1, len(rows))) * (
        (rows - line) / max(h - line, 1) * 6 + 1
    )
    cols = (np.arange(w)[None, :] + ripple[:, None].astype(int)) % w
    mirror = img[src[:, None], cols]
    fade = np.linspace(0.15, 0.45, len(rows), dtype=np.float32)[:, None, None]
    img[line:] = mirror * 0.82 + (np.array(haze, np.float32) * 0.5 - mirror * 0.3) * fade
    img[line : line + 1] = img[line : line + 1] * 0.6 + np.array(haze, np.float32) * 0.4
    # Long, thin glints on the water: noise stretched wide and squeezed flat.
    rows_n = h - line
    glint = enlarge(
        canvas.rng.random((max(2, rows_n // 3), max(2, w // 60)), dtype=np.float32), (rows_n, w)
    )
    streaks = np.clip((glint - 0.72) * 5.0, 0.0, 1.0) * 0.35
    paint(img[line:], streaks, mix(haze, (1.0, 1.0, 1.0), 0.5))


def _seal(canvas: Canvas, img: np.ndarray) -> None:
    """A small red seal near a lower corner, as on an ink painting."""
    h, w = canvas.shape
    size = int(min(w, h) * 0.06)
    left = canvas.rng.random() < 0.5
    x0 = int(w * 0.06) if left else int(w * 0.94) - size
    y0 = int(h * 0.9) - size
    y, x = canvas.grid()
    d = np.maximum(np.abs(x - (x0 + size / 2)), np.abs(y - (y0 + size / 2))) - size / 2
    worn = 0.75 + 0.25 * canvas.rng.random(canvas.shape, dtype=np.float32)
    paint(img, coverage(d) * worn, (0.72, 0.14, 0.12))
