"""Geometric compositions: layered shapes and a tiled mosaic. Shapes are drawn from signed
distance fields, so every edge is anti-aliased."""

from __future__ import annotations

import numpy as np

from worker.sketch.canvas import Canvas, blur, coverage, noise, paint
from worker.sketch.palette import mix, shade


def shapes(canvas: Canvas) -> np.ndarray:
    """Overlapping circles, arcs, bars and rings with soft shadows and a little texture,
    on tinted paper with a large colour block behind them."""
    pal, rng = canvas.palette, canvas.rng
    h, w = canvas.shape
    y, x = canvas.grid()
    img = canvas.fill(pal.ground)
    cols = list(pal.colours)
    unit = min(w, h)

    # A large block behind everything anchors the composition.
    split = rng.uniform(0.45, 0.7)
    block = coverage((y - split * h) if rng.random() < 0.5 else (x - split * w))
    paint(img, (1 - block) * 0.9, mix(pal.ground, cols[-1], 0.35))

    count = int(rng.integers(7, 12))
    for i in range(count):
        colour = cols[(i + 1) % len(cols)] if i else cols[0]
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        size = unit * rng.uniform(0.08, 0.3) * (1.4 if i == 0 else 1.0)
        dist = _shape_distance(rng, x - cx, y - cy, size)
        shadow = np.clip(0.5 - _shift(dist, 6, 8) / 10.0, 0.0, 1.0)
        paint(img, shadow * 0.22, shade(pal.ground, 0.35))
        inside = coverage(dist)
        paint(img, inside, colour)
        if rng.random() < 0.35:  # stripes or dots inside some shapes
            angle = rng.uniform(0, np.pi)
            period = unit * rng.uniform(0.015, 0.03)
            u = (x * np.cos(angle) + y * np.sin(angle)) / period
            stripes = np.clip((np.abs(u - np.round(u)) - 0.25) * period, -0.5, 0.5) + 0.5
            paint(img, inside * stripes * 0.8, shade(colour, 1.35, 0.7))
    return img


def _shape_distance(
    rng: np.random.Generator, px: np.ndarray, py: np.ndarray, size: float
) -> np.ndarray:
    """Signed distance (pixels, < 0 inside) to a random shape about `size` across, centred
    on the origin of (px, py)."""
    return np.asarray(_distance(rng, px, py, size), np.float32)


def _distance(rng: np.random.Generator, px: np.ndarray, py: np.ndarray, size: float) -> object:
    kind = rng.choice(["circle", "half", "bar", "ring", "arch"], p=[0.3, 0.2, 0.2, 0.15, 0.15])
    angle = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(angle), np.sin(angle)
    u, v = px * c + py * s, -px * s + py * c  # rotated frame
    r = np.sqrt(px * px + py * py)
    if kind == "circle":
        return r - size
    if kind == "half":
        return np.maximum(r - size, v)
    if kind == "bar":
        bw, bh = size * rng.uniform(1.2, 2.5), size * rng.uniform(0.12, 0.3)
        qx, qy = np.abs(u) - bw, np.abs(v) - bh
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0)
    if kind == "ring":
        return np.abs(r - size) - size * rng.uniform(0.08, 0.2)
    # arch: a thick half ring
    return np.maximum(np.abs(r - size) - size * 0.25, v)


def _shift(field: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.full_like(field, 1e6)
    out[dy:, dx:] = field[: field.shape[0] - dy, : field.shape[1] - dx]
    return out


def mosaic(canvas: Canvas) -> np.ndarray:
    """Tiles from a jittered grid (a Voronoi diagram), coloured by a smooth field so colour
    drifts across the picture, each lit from the top left, set in grout."""
    pal, rng = canvas.palette, canvas.rng
    h, w = canvas.shape
    cell = max(8.0, min(w, h) / rng.uniform(16, 28))
    ny, nx = int(h / cell) + 3, int(w / cell) + 3
    sy = (np.arange(ny)[:, None] - 1 + rng.uniform(0.15, 0.85, (ny, nx))) * cell
    sx = (np.arange(nx)[None, :] - 1 + rng.uniform(0.15, 0.85, (ny, nx))) * cell
    y, x = canvas.grid()
    gy, gx = (y / cell).astype(int) + 1, (x / cell).astype(int) + 1
    best = np.full(canvas.shape, 1e9, np.float32)
    second = np.full(canvas.shape, 1e9, np.float32)
    owner_y, owner_x = gy.copy(), gx.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            cy, cx = np.clip(gy + dy, 0, ny - 1), np.clip(gx + dx, 0, nx - 1)
            d = np.sqrt((x - sx[cy, cx]) ** 2 + (y - sy[cy, cx]) ** 2)
            closer = d < best
            second = np.where(closer, best, np.minimum(second, d))
            owner_y, owner_x = np.where(closer, cy, owner_y), np.where(closer, cx, owner_x)
            best = np.where(closer, d, best)

    cols = pal.array()
    field = noise(rng, (ny, nx), scale=rng.uniform(3, 6), octaves=2)
    # Neighbouring palette colours blend along the field, so colour drifts between tiles.
    pos = field * (len(cols) - 1)
    low = np.minimum(pos.astype(int), len(cols) - 2) if len(cols) > 1 else np.zeros_like(pos, int)
    frac = np.clip(pos - low, 0, 1)[..., None] if len(cols) > 1 else np.zeros((ny, nx, 1))
    high = np.minimum(low + 1, len(cols) - 1)
    base = cols[low] * (1 - frac) + cols[high] * frac
    jitter = rng.uniform(0.88, 1.1, (ny, nx, 1)).astype(np.float32)
    tile = np.clip(base * jitter, 0, 1)[owner_y, owner_x]
    # Light from the top left: brighter on the side of each tile that faces it.
    lx = (x - sx[owner_y, owner_x]) / cell
    ly = (y - sy[owner_y, owner_x]) / cell
    tile *= (1.0 - 0.18 * (lx + ly))[..., None]
    grout_col = np.array(
        shade(pal.ground, 0.8) if not pal.dark else shade(pal.ground, 0.6), np.float32
    )
    gap = max(1.0, cell * 0.07)
    inside = np.clip((second - best) / 2 - gap / 2 + 0.5, 0.0, 1.0)
    img = grout_col + (tile - grout_col) * inside[..., None]
    shadow = blur(1 - inside, 2.0)
    img *= (1.0 - 0.15 * shadow * inside)[..., None]
    return np.asarray(img, np.float32)
