"""A palette from the words of a prompt: colour words, things with a colour, and moods.

The word lists are data. Named colours lead the palette as given (so "crimson" really makes
a red picture); things ("sea", "ember") add their colours after them; a mood shapes the rest
(saturation, lightness, light or dark ground). Without any of those, the seed picks a hue
and a colour scheme. Pure functions over small lists; colours are RGB floats in [0, 1].
"""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass

import numpy as np

RGB = tuple[float, float, float]


def _hex(code: str) -> RGB:
    code = code.lstrip("#")
    r, g, b = (int(code[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b)


# Colour words, as a painter would mix them.
COLOURS: dict[str, str] = {
    "crimson": "#b0122b", "scarlet": "#d5261e", "red": "#c62828", "ruby": "#9b111e",
    "cherry": "#b3202f", "rose": "#e0607e", "pink": "#f08fb0", "coral": "#f2704f",
    "salmon": "#f0907a", "peach": "#f7b38b", "orange": "#ee7a1f", "tangerine": "#f28c28",
    "amber": "#f0a020", "gold": "#d9a521", "golden": "#dcaa2a", "yellow": "#f2cf2e",
    "lemon": "#f4e04d", "mustard": "#c9a227", "ochre": "#c5862b", "olive": "#7d7a2f",
    "lime": "#9ccc3c", "green": "#3f8f4f", "emerald": "#1f8a5b", "jade": "#3aa07a",
    "mint": "#9fdcc0", "sage": "#9aae8c", "moss": "#6b7f3a", "teal": "#1f7f86",
    "turquoise": "#2fb5b0", "cyan": "#35b8d0", "aqua": "#5fd0d6", "azure": "#3a8fd8",
    "blue": "#2f5fb8", "cobalt": "#1f47a6", "sapphire": "#1d3f9a", "navy": "#1b2a5a",
    "indigo": "#3b2d85", "violet": "#7a4bb8", "purple": "#6e3a9e", "lavender": "#b49ce0",
    "lilac": "#c6a5d8", "magenta": "#c0307e", "fuchsia": "#d2349a", "plum": "#6e2f5a",
    "maroon": "#6a1b24", "burgundy": "#74182c", "brown": "#7a4b2a", "rust": "#a8481f",
    "copper": "#b8693a", "bronze": "#a77a3a", "sepia": "#8a6a48", "umber": "#6b4a2e",
    "tan": "#c9a47a", "sand": "#dcc39a", "beige": "#e3d3b4", "cream": "#f3ead2",
    "ivory": "#f5f0df", "white": "#f4f4f0", "silver": "#b9bec6", "grey": "#8d9096",
    "gray": "#8d9096", "slate": "#5a6472", "charcoal": "#35383e", "black": "#18181b",
    "ebony": "#1e1b1a",
}  # fmt: skip

# Things whose colours most people see at once.
THINGS: dict[str, tuple[str, ...]] = {
    "sea": ("#1f5f8b", "#4f9fbf"), "ocean": ("#164e7a", "#3f8fb5"), "lake": ("#3f7f9f",),
    "river": ("#4f8faf", "#7fb0a0"), "rain": ("#7f93a6", "#aebbc6"), "sky": ("#6fa8dc",),
    "cloud": ("#e6e8ee", "#b8bfcc"), "snow": ("#f2f5fa", "#bcd0e6"), "ice": ("#cfe8f2",),
    "frost": ("#d8e8f0",), "forest": ("#2f5f3a", "#5f8f4a"), "leaf": ("#5f9f3f",),
    "leaves": ("#6f9f3a", "#c5862b"), "grass": ("#6faf4a",), "moss": ("#6b7f3a",),
    "fern": ("#4f8a3f",), "garden": ("#5f9f4f", "#e0607e"), "meadow": ("#8fbf5a", "#f2cf2e"),
    "fire": ("#e8541e", "#f5a623"), "flame": ("#f06a1f", "#f7c04a"),
    "ember": ("#c8401a", "#f08030"), "embers": ("#c8401a", "#f08030"),
    "lava": ("#d0301a", "#2a1a1a"), "sun": ("#f5b83a",), "sunset": ("#f07a3a", "#d0487a"),
    "sunrise": ("#f5a05a", "#f7d08a"), "dawn": ("#f2b9a0", "#a9b8e0"),
    "dusk": ("#6a4f8f", "#f0906a"), "twilight": ("#4a3f7f", "#d07a8f"),
    "night": ("#141c3a", "#2f3f6f"), "midnight": ("#0f1530", "#27305a"),
    "moon": ("#e8e6d8",), "stars": ("#f0ecd0",), "desert": ("#dcae7a", "#c5763a"),
    "dune": ("#e0b985",), "autumn": ("#b8541f", "#d9a521"), "harvest": ("#d08a2a", "#8a5a2a"),
    "spring": ("#9fd06a", "#f0a0c0"), "summer": ("#f2c83a", "#3fa0c0"),
    "winter": ("#cfdcea", "#5f7f9f"), "rose": ("#d0405f",), "roses": ("#d0405f", "#3f7f4f"),
    "lavender": ("#a98fd8",), "cherry": ("#e89ab0",), "blossom": ("#f4b6c8", "#f8e0e8"),
    "lemon": ("#f4e04d",), "orange": ("#ee7a1f",), "plum": ("#6e2f5a",), "wine": ("#6a1b34",),
    "coffee": ("#5a3a24", "#c9a47a"), "honey": ("#e0a830",), "storm": ("#3f4a5a", "#8a96a6"),
    "fog": ("#c8ccd0", "#9aa2aa"), "mist": ("#d0d6dc",), "smoke": ("#8a8a90",),
    "lighthouse": ("#d03a2a", "#f0ecd0"), "city": ("#5a6472", "#f0a020"),
    "neon": ("#ff2fa0", "#2ff0ff"), "jungle": ("#1f6f3a", "#8fcf3a"), "coral": ("#f2704f",),
    "mountain": ("#5a6a8a", "#9aa8c0"), "mountains": ("#5a6a8a", "#9aa8c0"),
    "stone": ("#8d8a84",), "gold": ("#d9a521",), "blood": ("#8a0f1a",), "candle": ("#f7c04a",),
    "lantern": ("#f0a020", "#c8401a"), "tea": ("#b8783a",), "ink": ("#1e1e28",),
}  # fmt: skip


@dataclass(frozen=True)
class Mood:
    hues: tuple[float, ...]  # degrees, used when the prompt names no colours
    saturation: float  # multiplies the saturation of the colours it picks or adjusts
    lightness: float  # multiplies their value
    dark: bool  # a dark ground (night, dread) instead of a light one


MOODS: dict[str, Mood] = {
    "calm": Mood((200, 175, 40), 0.55, 1.0, False),
    "joyful": Mood((45, 15, 190, 330), 1.1, 1.05, False),
    "melancholy": Mood((215, 235, 260), 0.4, 0.85, False),
    "eerie": Mood((110, 160, 280), 0.5, 0.7, True),
    "romantic": Mood((345, 320, 20), 0.75, 0.95, False),
    "hopeful": Mood((45, 200, 120), 0.8, 1.05, False),
    "defiant": Mood((355, 20, 0), 1.1, 0.8, True),
    "playful": Mood((330, 50, 180, 270), 1.15, 1.05, False),
    "nostalgic": Mood((30, 40, 15), 0.45, 0.9, False),
    "solemn": Mood((230, 260, 40), 0.4, 0.7, True),
    "dreamy": Mood((270, 320, 200), 0.5, 1.05, False),
    "mysterious": Mood((250, 200, 290), 0.6, 0.65, True),
    "angry": Mood((0, 15, 350), 1.1, 0.8, True),
    "fierce": Mood((10, 30, 0), 1.1, 0.9, True),
    "serene": Mood((190, 160, 210), 0.5, 1.05, False),
    "stormy": Mood((215, 230, 200), 0.35, 0.65, True),
    "gloomy": Mood((220, 240, 200), 0.3, 0.65, True),
    "warm": Mood((25, 40, 10), 0.9, 1.0, False),
    "cold": Mood((200, 215, 185), 0.6, 0.95, False),
    "vibrant": Mood((330, 45, 190, 120), 1.2, 1.05, False),
}
SYNONYMS: dict[str, str] = {
    "peaceful": "calm", "quiet": "calm", "gentle": "calm", "still": "calm",
    "happy": "joyful", "bright": "joyful", "cheerful": "joyful", "sunny": "joyful",
    "sad": "melancholy", "lonely": "melancholy", "wistful": "melancholy", "grief": "melancholy",
    "spooky": "eerie", "haunted": "eerie", "ghostly": "eerie", "uncanny": "eerie",
    "love": "romantic", "tender": "romantic", "hope": "hopeful",
    "bold": "defiant", "rebel": "defiant", "fun": "playful", "whimsical": "playful",
    "memory": "nostalgic", "vintage": "nostalgic", "old": "nostalgic",
    "grave": "solemn", "dark": "solemn", "sombre": "solemn", "somber": "solemn",
    "dream": "dreamy", "ethereal": "dreamy", "soft": "dreamy", "secret": "mysterious",
    "rage": "angry", "wild": "fierce", "tranquil": "serene", "dramatic": "stormy",
    "bleak": "gloomy", "cozy": "warm", "cosy": "warm", "icy": "cold", "lively": "vibrant",
}  # fmt: skip
DARK_WORDS = frozenset({"night", "midnight", "dark", "nocturne", "shadow", "shadows", "space"})


@dataclass(frozen=True)
class Palette:
    ground: RGB  # the paper, or the sky at night
    colours: tuple[RGB, ...]  # most prominent first
    dark: bool
    words: tuple[str, ...]  # the prompt words it came from (shown in the settings)
    mood: str = ""

    def array(self) -> np.ndarray:
        return np.array(self.colours, dtype=np.float32)


def words_of(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def palette_for(prompt: str, rng: np.random.Generator, size: int = 5) -> Palette:
    words = words_of(prompt)
    mood_word = next((w for w in words if w in MOODS or w in SYNONYMS), "")
    mood = MOODS[SYNONYMS.get(mood_word, mood_word)] if mood_word else None
    named = _unique([_hex(COLOURS[w]) for w in words if w in COLOURS])
    things = _unique([_hex(c) for w in words if w in THINGS for c in THINGS[w]])
    used = tuple(w for w in dict.fromkeys(words) if w in COLOURS or w in THINGS or w == mood_word)
    dark = (mood.dark if mood else False) or any(w in DARK_WORDS for w in words)

    colours = list(named) + [_adjust(c, mood, 0.5) for c in things if c not in named]
    if colours and len(colours) < size:
        # The prompt's colours lead: fill with their own neighbours, so the picture stays
        # theirs (a mood only shifts them); named colours first.
        leads = list(colours)
        for base in leads * size:
            if len(colours) >= size:
                break
            colours.append(_adjust(_neighbour(base, rng), mood, 0.5))
    if len(colours) < size:
        colours += _scheme(rng, mood, size - len(colours), [_hue(c) for c in colours])
    colours = colours[: max(size, len(named))]
    return Palette(_ground(colours[0], dark, rng), tuple(colours), dark, used, mood_word)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def shade(c: RGB, value: float, saturation: float = 1.0) -> RGB:
    """The colour with its HSV value and saturation multiplied (clipped to [0, 1])."""
    h, s, v = colorsys.rgb_to_hsv(*c)
    return colorsys.hsv_to_rgb(h, min(s * saturation, 1.0), min(v * value, 1.0))


def luminance(c: RGB) -> float:
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _unique(colours: list[RGB]) -> list[RGB]:
    return list(dict.fromkeys(colours))


def _hue(c: RGB) -> float:
    return colorsys.rgb_to_hsv(*c)[0] * 360


def _adjust(c: RGB, mood: Mood | None, strength: float) -> RGB:
    if mood is None:
        return c
    sat = 1 + (mood.saturation - 1) * strength
    val = 1 + (mood.lightness - 1) * strength
    return shade(c, val, sat)


def _neighbour(c: RGB, rng: np.random.Generator) -> RGB:
    """A colour beside `c` on the wheel: a little hue shift, lighter or darker."""
    h, s, v = colorsys.rgb_to_hsv(*c)
    h = (h + rng.uniform(-0.05, 0.05)) % 1.0
    v = float(np.clip(v * rng.choice([0.55, 0.75, 1.2, 1.4]), 0.08, 1.0))
    s = float(np.clip(s * rng.uniform(0.7, 1.1), 0.0, 1.0))
    return colorsys.hsv_to_rgb(h, s, v)


def _scheme(
    rng: np.random.Generator, mood: Mood | None, count: int, taken: list[float]
) -> list[RGB]:
    """Colours from a mood's hues, or a seeded analogous / complementary / triad scheme."""
    if mood is not None:
        hues = list(mood.hues)
    else:
        base = taken[0] if taken else float(rng.uniform(0, 360))
        offsets = [
            (0, 30, -30, 60),  # analogous
            (0, 180, 20, 200),  # complementary
            (0, 120, 240, 30),  # triad
            (0, 150, 210, -20),  # split complementary
        ][int(rng.integers(4))]
        hues = [base + o for o in offsets]
    sat = mood.saturation if mood else 1.0
    val = mood.lightness if mood else 1.0
    out = []
    for i in range(count):
        hue = (hues[i % len(hues)] + rng.uniform(-8, 8)) % 360 / 360
        s = float(np.clip(rng.uniform(0.45, 0.8) * sat, 0.05, 1.0))
        v = float(np.clip(rng.uniform(0.55, 0.95) * val, 0.1, 1.0))
        out.append(colorsys.hsv_to_rgb(hue, s, v))
    return out


def _ground(lead: RGB, dark: bool, rng: np.random.Generator) -> RGB:
    """Paper tinted by the leading colour, or a deep shade of it for dark pictures."""
    h, s, _ = colorsys.rgb_to_hsv(*lead)
    if dark:
        return colorsys.hsv_to_rgb(h, min(0.55, s * 0.8 + 0.1), 0.12 + rng.uniform(0, 0.04))
    return colorsys.hsv_to_rgb(h, min(0.12, s * 0.2) + 0.03, 0.95 + rng.uniform(0, 0.03))
