"""Painterly compositions: flow fields and watercolour washes."""

from __future__ import annotations

import numpy as np

from worker.sketch.canvas import Canvas, blur, noise, smoothstep, vertical_gradient
from worker.sketch.palette import mix, shade


def flow(canvas: Canvas) -> np.ndarray:
    """Thousands of particles drift along a smooth angle field; their paths, splatted with
    bilinear weights, build up soft strands of colour with a faint glow."""
    pal, rng = canvas.palette, canvas.rng
    h, w = canvas.shape
    top = shade(pal.ground, 1.0 if not pal.dark else 1.3)
    img = vertical_gradient(canvas, top, mix(pal.ground, pal.colours[-1], 0.12))

    # The field: a low-resolution angle map (one cell per 4 pixels), read at nearest cell.
    fh, fw = h // 4 + 1, w // 4 + 1
    swirl = float(rng.uniform(1.5, 3.5))
    angle = noise(rng, (fh, fw), scale=fh / rng.uniform(1.5, 3.0), octaves=2) * np.pi * swirl
    angle += float(rng.uniform(0, 2 * np.pi))
    region = noise(rng, (fh, fw), scale=fh / 2.0, octaves=2)  # which colour a strand takes

    count = int(h * w / 90)
    steps = 70
    x = rng.uniform(0, w, count).astype(np.float32)
    y = rng.uniform(0, h, count).astype(np.float32)
    cols = pal.array()
    start = region[(y / 4).astype(int), (x / 4).astype(int)]
    pick = np.minimum((start * len(cols) * 0.999).astype(int), len(cols) - 1)
    pick = np.where(rng.random(count) < 0.12, rng.integers(0, len(cols), count), pick)
    strand = cols[pick] * rng.uniform(0.8, 1.15, (count, 1)).astype(np.float32)
    weight = rng.uniform(0.3, 1.0, count).astype(np.float32)

    # Every step's bilinear footprint is collected, then splatted with one bincount per
    # channel: a few large calls instead of thousands of small ones.
    idx_parts: list[np.ndarray] = []
    wt_parts: list[np.ndarray] = []
    who_parts: list[np.ndarray] = []
    ids = np.arange(count)
    speed = 1.1
    for step in range(steps):
        fade = np.sin(np.pi * (step + 0.5) / steps)  # strands taper at both ends
        a = angle[np.clip(y / 4, 0, fh - 1).astype(int), np.clip(x / 4, 0, fw - 1).astype(int)]
        x += np.cos(a) * speed
        y += np.sin(a) * speed
        inside = (x >= 0) & (x < w - 1) & (y >= 0) & (y < h - 1)
        xi, yi = x[inside], y[inside]
        x0, y0 = xi.astype(np.int32), yi.astype(np.int32)
        fx, fy = xi - x0, yi - y0
        base = y0 * w + x0
        wt = weight[inside] * fade
        for offset, share in (
            (0, (1 - fx) * (1 - fy)),
            (1, fx * (1 - fy)),
            (w, (1 - fx) * fy),
            (w + 1, fx * fy),
        ):
            idx_parts.append(base + offset)
            wt_parts.append(share * wt)
            who_parts.append(ids[inside])
    idx, wts, who = np.concatenate(idx_parts), np.concatenate(wt_parts), np.concatenate(who_parts)
    density = np.bincount(idx, wts, h * w).astype(np.float32)
    acc = np.stack([np.bincount(idx, wts * strand[who, c], h * w) for c in range(3)])
    acc = acc.astype(np.float32)

    density = density.reshape(h, w)
    colour = (acc / np.maximum(density.ravel(), 1e-6)).T.reshape(h, w, 3)
    glow = blur(density, 6.0)
    ink = 1.0 - np.exp(-density * 1.6)
    halo = (1.0 - np.exp(-glow * 0.9)) * 0.35
    alpha = np.clip(ink + halo, 0.0, 1.0)[..., None]
    tint = blur_rgb(colour * density[..., None], 6.0) / np.maximum(glow, 1e-6)[..., None]
    colour = np.where(density[..., None] > 1e-3, colour, tint)
    return np.asarray(img + (np.clip(colour, 0, 1) - img) * alpha, np.float32)


def washes(canvas: Canvas) -> np.ndarray:
    """Watercolour: translucent glazes multiplied over textured paper, pigment pooling at
    the edges, granulation inside, a few drier brush marks on top."""
    pal, rng = canvas.palette, canvas.rng
    h, w = canvas.shape
    paper = shade(pal.ground, 1.02, 0.8) if not pal.dark else shade(pal.ground, 2.4, 0.7)
    img = canvas.fill(paper)
    fibre = noise(rng, (h, w), scale=3.0, octaves=2)
    img *= (0.97 + 0.03 * fibre)[..., None]
    y, x = canvas.grid()
    count = int(rng.integers(5, 8))
    cols = list(pal.colours)
    for i in range(count):
        # Pigments are brighter and cleaner than the palette's mixed colours.
        colour = np.array(shade(cols[i % len(cols)], 1.15, 1.15), np.float32)
        # A loose horizontal band or a round bloom, deformed by noise.
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        rx = rng.uniform(0.2, 0.5) * w
        ry = rx * (rng.uniform(0.25, 0.6) if rng.random() < 0.6 else rng.uniform(0.8, 1.1))
        d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
        shape = 1.0 - d + 0.55 * (noise(rng, (h, w), scale=w / 5.0, octaves=4) - 0.5)
        mask = smoothstep(0.0, 0.04, shape)
        edge = np.clip(mask - blur(mask, 9.0), 0.0, 1.0)  # pigment pools at the wet edge
        grain = noise(rng, (h, w), scale=2.5, octaves=1)
        bloom = noise(rng, (h, w), scale=w / 12.0, octaves=2)  # uneven drying inside
        strength = float(rng.uniform(0.22, 0.4)) if i < count - 2 else 0.55
        density = mask * strength * (0.55 + 0.3 * grain + 0.35 * bloom) + edge * 0.9
        glaze = 1.0 - np.clip(density, 0, 1)[..., None] * (1.0 - colour)
        img *= glaze
    return img


def blur_rgb(img: np.ndarray, radius: float) -> np.ndarray:
    return np.stack([blur(img[..., c], radius) for c in range(3)], axis=-1)
