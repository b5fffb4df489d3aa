"""A composed scene of the things a prompt names, laid over a style's picture.

The scene has a horizon and a ground plane below it. Things on the ground get a depth
(0 near .. 1 at the horizon): the farther, the smaller, the higher (their base nearer the
horizon) and the paler (mixed towards the haze). Sky things go above the horizon; boats,
fish and whales on the water (a sea is drawn when the prompt names none); mountains and
forests stand on the horizon. The style then treats the layer of things its own way
(`treat`): tiles for mosaic, washes for watercolour, strands for flow, ink for ink.
`compose` returns what it placed, in the prompt's order, with the box and colour of
each, for the alt text and for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from worker.sketch.canvas import Canvas, blur, coverage, noise1d, paint
from worker.sketch.figures import colours_for, draw_figure
from worker.sketch.palette import COLOURS, RGB, _hex, mix, shade
from worker.sketch.subjects import SUBJECTS, Asked

SUPER = 2  # the layer of things is drawn at this scale, then reduced (anti-aliasing)
WATERS = ("sea", "lake", "river")
RAINBOW = ("#e04040", "#f0903a", "#f2d23a", "#4faf4f", "#3a7fd0", "#6a4ab0")


@dataclass(frozen=True)
class Placed:
    name: str  # the subject, e.g. "boat"
    word: str  # the prompt's word for it ("" for a sea the boats needed)
    colour_word: str  # the colour word bound to it, or ""
    colour: RGB  # the main colour drawn, after distance paling
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, clipped to the picture
    depth: float  # 0 near .. 1 at the horizon; sky things 1


def colour_of(asked: Asked) -> RGB:
    return _hex(COLOURS[asked.colour_word] if asked.colour_word else SUBJECTS[asked.name].colour)


def sky_colour(asked: list[Asked]) -> RGB | None:
    """The sky's colour when the prompt binds one to it ("crimson sky")."""
    sky = next((a for a in asked if a.name == "sky"), None)
    return colour_of(sky) if sky and sky.colour_word else None


def horizon_of(canvas: Canvas, asked: list[Asked], scenic: bool) -> float:
    watery = any(a.name in WATERS or SUBJECTS[a.name].place == "water" for a in asked)
    if scenic:  # the landscape styles' own water line and ridges
        return canvas.height * (0.72 if watery or canvas.words & {"ocean", "water"} else 0.64)
    return canvas.height * 0.6


def compose(
    canvas: Canvas, img: np.ndarray, asked: list[Asked], style: str, rng: np.random.Generator
) -> list[Placed]:
    """Draw the asked things into `img` (in place) and say what went where."""
    scenic = style in ("landscape", "ink")
    h, w = canvas.shape
    horizon = horizon_of(canvas, asked, scenic)
    haze = tuple(float(c) for c in img[int(horizon) - 1].mean(axis=0))
    placed: list[Placed] = []
    if not scenic:
        _ground_plane(canvas, img, asked, horizon)
    elif (sky := sky_colour(asked)) is not None:
        placed.append(Placed("sky", "sky", _word(asked, "sky"), sky, (0, 0, w, int(horizon)), 1.0))
    if not scenic and any(a.name == "sky" for a in asked):
        sky = sky_colour(asked) or _hex(SUBJECTS["sky"].colour)
        placed.append(Placed("sky", "sky", _word(asked, "sky"), sky, (0, 0, w, int(horizon)), 1.0))
    needs_sea = any(SUBJECTS[a.name].place == "water" for a in asked) and not any(
        a.name in WATERS for a in asked
    )
    regions = [a for a in asked if SUBJECTS[a.name].place == "region" and a.name != "sky"]
    if needs_sea:
        regions.append(Asked("sea", "", "", 1))
    shore = any(SUBJECTS[a.name].place == "ground" for a in asked)
    for region in regions:
        placed.append(_region(canvas, img, region, horizon, shore, rng))

    layer = Image.new("RGBA", (w * SUPER, h * SUPER), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    water_top = horizon if any(p.name in WATERS for p in placed) else None
    for thing in [a for a in asked if SUBJECTS[a.name].place == "sky"]:
        placed += _sky_thing(draw, thing, canvas, horizon, rng)
    for thing in [a for a in asked if SUBJECTS[a.name].place == "horizon"]:
        placed += _horizon_thing(draw, thing, canvas, horizon, haze, rng)
    standing = [a for a in asked if SUBJECTS[a.name].place in ("ground", "water")]
    placed += _standing(draw, standing, canvas, horizon, water_top, shore, haze, rng)
    _treat(canvas, img, layer, style)
    order = {a.name: i for i, a in enumerate(asked)}
    return sorted(placed, key=lambda p: order.get(p.name, len(order)))  # the prompt's order


def _word(asked: list[Asked], name: str) -> str:
    return next((a.colour_word for a in asked if a.name == name), "")


def _ground_plane(canvas: Canvas, img: np.ndarray, asked: list[Asked], horizon: float) -> None:
    """Over an abstract style: a sky above the horizon and land below, the style's own
    texture showing through."""
    y, _ = canvas.grid()
    sky = sky_colour(asked) or mix(canvas.palette.ground, _hex(SUBJECTS["sky"].colour), 0.5)
    if canvas.palette.dark and sky_colour(asked) is None:
        sky = shade(sky, 0.35)
    field = next((a for a in asked if a.name == "field"), None)
    land = colour_of(field) if field else mix(canvas.palette.colours[0], (0.36, 0.55, 0.3), 0.6)
    above = coverage(y - horizon)
    paint(img, above * 0.68, sky)
    paint(img, (1 - above) * 0.62, shade(land, 0.5 if canvas.palette.dark else 1.0))


def _region(
    canvas: Canvas,
    img: np.ndarray,
    asked: Asked,
    horizon: float,
    shore: bool,
    rng: np.random.Generator,
) -> Placed:
    """Water, a road or a field painted on the ground plane; its colour deepens nearer."""
    h, w = canvas.shape
    y, x = canvas.grid()
    col = colour_of(asked)
    t = np.clip((y - horizon) / max(h - horizon, 1), 0, 1)  # 0 at the horizon .. 1 near
    far = mix(col, (0.85, 0.88, 0.92), 0.35)
    if asked.name == "sea":
        bottom = h * 0.84 if shore else float(h)
        mask = coverage(horizon - y) * coverage(y - bottom)
        box = (0, int(horizon), w, int(bottom))
    elif asked.name == "lake":
        cy, ry = horizon + (h - horizon) * 0.35, (h - horizon) * 0.22
        cx, rx = w * float(rng.uniform(0.4, 0.6)), w * 0.38
        mask = coverage((np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) - 1) * ry)
        box = (int(cx - rx), int(cy - ry), int(cx + rx), int(cy + ry))
    elif asked.name in ("river", "road"):
        wiggle = noise1d(rng, h, scale=h * 0.5, octaves=2) * w * 0.12 * t[:, 0]
        centre = w * float(rng.uniform(0.35, 0.65)) + wiggle
        half = w * (0.015 + (0.2 if asked.name == "road" else 0.16) * t[:, 0])
        mask = coverage(np.abs(x - centre[:, None]) - half[:, None]) * coverage(horizon - y)
        box = (int(min(centre - half)), int(horizon), int(max(centre + half)), h)
    else:  # field: the ground itself
        mask = coverage(horizon - y)
        box = (0, int(horizon), w, h)
    ripple = 0.9 + 0.1 * canvas.noise(max(4.0, w / 30), 2)
    tone = (np.array(far, np.float32) + (np.array(col) - np.array(far)) * t[..., None]) * ripple[
        ..., None
    ]
    img += (tone - img) * (mask * 0.85)[..., None]
    return Placed(asked.name, asked.word, asked.colour_word, col, _clip(box, w, h), 0.5)


def _sky_thing(
    draw: ImageDraw.ImageDraw,
    asked: Asked,
    canvas: Canvas,
    horizon: float,
    rng: np.random.Generator,
) -> list[Placed]:
    h, w = canvas.shape
    kind = SUBJECTS[asked.name]
    col = colour_of(asked)
    count = asked.count
    out = []
    for _ in range(count):
        size = kind.height * h * (rng.uniform(0.7, 1.1) if count > 1 else 1.0)
        bw = size * kind.aspect
        if asked.name == "rainbow":
            cx, cy = w * rng.uniform(0.35, 0.65), horizon
            box = (cx - bw / 2, cy - size, cx + bw / 2, cy + size)
            _rainbow(draw, box, col if asked.colour_word else None)
            box = (box[0], box[1], box[2], cy)
        else:
            cx = w * rng.uniform(0.12, 0.88)
            cy = horizon * rng.uniform(0.18, 0.62)
            box = (cx - bw / 2, cy - size / 2, cx + bw / 2, cy + size / 2)
            draw_figure(draw, asked.name, _up(box), colours_for(col))
        out.append(Placed(asked.name, asked.word, asked.colour_word, col, _clip(box, w, h), 1.0))
    return out


def _rainbow(draw: ImageDraw.ImageDraw, box: tuple[float, ...], one: RGB | None) -> None:
    x0, y0, x1, y1 = _up(box)
    band = (x1 - x0) * 0.035
    for i, code in enumerate(RAINBOW):
        rgb = one if one is not None else _hex(code)
        fill = (round(rgb[0] * 255), round(rgb[1] * 255), round(rgb[2] * 255), 210)
        inset = i * band
        rect = (x0 + inset, y0 + inset, x1 - inset, y1 - inset)
        draw.arc(rect, 180, 360, fill=fill, width=max(1, round(band)))


def _horizon_thing(
    draw: ImageDraw.ImageDraw,
    asked: Asked,
    canvas: Canvas,
    horizon: float,
    haze: tuple[float, ...],
    rng: np.random.Generator,
) -> list[Placed]:
    h, w = canvas.shape
    kind = SUBJECTS[asked.name]
    col = mix(colour_of(asked), (haze[0], haze[1], haze[2]), 0.0 if asked.colour_word else 0.3)
    out = []
    if asked.name == "forest":
        size = kind.height * h
        for i in range(int(w / (size * 0.35)) + 1):
            tx = i * size * 0.35 + rng.uniform(-0.1, 0.1) * size
            th = size * rng.uniform(0.7, 1.1)
            draw.polygon(
                _up_pts(
                    [
                        (tx - th * 0.25, horizon + 2),
                        (tx + th * 0.25, horizon + 2),
                        (tx, horizon - th),
                    ]
                ),
                fill=_rgba(shade(col, rng.uniform(0.8, 1.15))),
            )
        box = (0.0, horizon - size * 1.1, float(w), horizon)
        return [Placed("forest", asked.word, asked.colour_word, col, _clip(box, w, h), 1.0)]
    for i in range(asked.count):
        size = kind.height * h * (rng.uniform(0.6, 1.0) if i else 1.0)
        cx = w * (rng.uniform(0.15, 0.85) if asked.count == 1 else (i + 0.5) / asked.count)
        box = (
            cx - size * kind.aspect / 2,
            horizon - size,
            cx + size * kind.aspect / 2,
            horizon + 1,
        )
        draw_figure(draw, asked.name, _up(box), colours_for(shade(col, 1.0 - 0.08 * i)))
        out.append(Placed(asked.name, asked.word, asked.colour_word, col, _clip(box, w, h), 1.0))
    return out


def _standing(
    draw: ImageDraw.ImageDraw,
    asked: list[Asked],
    canvas: Canvas,
    horizon: float,
    water_top: float | None,
    shore: bool,
    haze: tuple[float, ...],
    rng: np.random.Generator,
) -> list[Placed]:
    """Things on the ground or the water, the first named nearest; drawn far to near."""
    h, w = canvas.shape
    slots: list[tuple[float, float, Asked]] = []  # depth, x, thing
    total = sum(a.count for a in asked)
    order = rng.permutation(total) if total > 1 else np.zeros(1, int)
    k = 0
    for rank, thing in enumerate(asked):
        for copy in range(thing.count):
            x = (order[k] + 0.5) / total + rng.uniform(-0.2, 0.2) / total
            depth = min(0.85, 0.12 + 0.18 * rank + 0.22 * copy + rng.uniform(0, 0.08))
            slots.append((depth, w * float(np.clip(x, 0.1, 0.9)), thing))
            k += 1
    out = []
    shore_top = h * 0.84
    for depth, cx, thing in sorted(slots, key=lambda s: -s[0]):
        kind = SUBJECTS[thing.name]
        on_water = kind.place == "water" and water_top is not None
        if on_water and shore and water_top is not None:
            base = water_top + (shore_top - water_top) * (1 - depth) * 0.9 + 2
        elif not on_water and shore and water_top is not None:
            base = shore_top + (h - shore_top) * (1 - depth) * 0.8  # on the shore
        else:
            base = horizon + (h - horizon) * (0.95 - 0.9 * depth)
        scale = 1.0 - 0.7 * depth
        size = kind.height * h * scale
        sink = (
            0.35
            if thing.name in ("boat", "ship", "swan")
            else (0.6 if thing.name in ("fish", "whale") else 0)
        )
        main = mix(colour_of(thing), (haze[0], haze[1], haze[2]), 0.55 * depth)
        bw = size * kind.aspect
        box = (cx - bw / 2, base - size * (1 - sink), cx + bw / 2, base + size * sink)
        draw_figure(draw, thing.name, _up(box), colours_for(main), flip=bool(rng.random() < 0.5))
        out.append(Placed(thing.name, thing.word, thing.colour_word, main, _clip(box, w, h), depth))
    return out


def _treat(canvas: Canvas, img: np.ndarray, layer: Image.Image, style: str) -> None:
    """Lay the things over the picture in the style's manner."""
    h, w = canvas.shape
    small = layer.convert("RGBa").resize((w, h), Image.Resampling.BOX).convert("RGBA")
    arr = np.asarray(small, np.float32) / 255.0
    colour, alpha = arr[..., :3].copy(), arr[..., 3].copy()
    if style == "mosaic":  # each tile takes the average of the things over it
        tile = max(3, min(w, h) // 48)
        colour, alpha = _tiles(colour * alpha[..., None], tile), _tiles(alpha, tile)
        colour = colour / np.maximum(alpha, 1e-4)[..., None]
        alpha = np.clip(alpha * 1.4, 0, 1)
    elif style == "watercolour":  # translucent washes with darker, pooled edges
        alpha = blur(alpha, 1.5) * (0.8 + 0.2 * canvas.noise(max(4.0, w / 20), 2))
        edge = np.clip(alpha - blur(alpha, 3.0), 0, 1)
        colour = colour * (1 - 0.5 * edge[..., None])
    elif style == "flow":  # strands: the colour combed along the rows
        streak = 0.72 + 0.28 * np.sin(np.arange(h, dtype=np.float32) * 1.3)[:, None]
        alpha = alpha * streak
    elif style == "ink":  # brush ink, the named colours kept
        grey = colour.mean(axis=2, keepdims=True)
        colour = colour * 0.55 + grey * 0.25 * (1 + (grey < 0.5))
    elif style == "shapes":  # flat, with a soft shadow
        shadow = np.roll(blur(alpha, 2.0), (max(1, h // 90), max(1, w // 90)), axis=(0, 1))
        paint(img, shadow * 0.35 * (1 - alpha), (0.1, 0.1, 0.12))
    img += (colour - img) * alpha[..., None]


def _tiles(field: np.ndarray, tile: int) -> np.ndarray:
    h, w = field.shape[:2]
    ph, pw = -h % tile, -w % tile
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (field.ndim - 2)
    big = np.pad(field, pad, mode="edge")
    shape = (big.shape[0] // tile, tile, big.shape[1] // tile, tile, *field.shape[2:])
    means = big.reshape(shape).mean(axis=(1, 3))
    return np.repeat(np.repeat(means, tile, axis=0), tile, axis=1)[:h, :w]


def _up(box: tuple[float, ...]) -> tuple[float, float, float, float]:
    return (box[0] * SUPER, box[1] * SUPER, box[2] * SUPER, box[3] * SUPER)


def _up_pts(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(px * SUPER, py * SUPER) for px, py in pts]


def _rgba(rgb: RGB) -> tuple[int, int, int, int]:
    return (round(rgb[0] * 255), round(rgb[1] * 255), round(rgb[2] * 255), 255)


def _clip(box: tuple[float, ...], w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (round(v) for v in box)
    return (max(0, x0), max(0, y0), min(w, max(x1, x0 + 1)), min(h, max(y1, y0 + 1)))
