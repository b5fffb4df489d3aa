"""The sketch renderer draws what was asked: the things a prompt names are placed (its
report says so, and the pixels agree), colour words land on their nouns, farther things are
smaller and higher, and the prompt's unknown nouns are named as not drawn."""

from __future__ import annotations

import numpy as np
import pytest

from worker.sketch import COMPOSITIONS, Sketch, render
from worker.sketch.figures import FIGURES
from worker.sketch.subjects import SUBJECTS, read_prompt, singular

SIZE = (192, 160)  # width, height

# (prompt, style, the subjects it must draw)
PROMPTS: list[tuple[str, str, set[str]]] = [
    ("a lighthouse by the sea at night", "landscape", {"lighthouse", "sea"}),
    ("a red boat on a blue sea", "watercolour", {"boat", "sea"}),
    ("a cottage under a big oak tree", "painting", {"house", "tree"}),
    ("a black cat and a white dog", "shapes", {"cat", "dog"}),
    ("sunflowers in a field with two birds", "mosaic", {"sunflower", "field", "bird"}),
    ("the moon and stars over mountains", "ink", {"moon", "star", "mountain"}),
    ("a castle on a hill under a rainbow", "photo", {"castle", "mountain", "rainbow"}),
    ("a windmill by a river", "flow", {"windmill", "river"}),
    ("a woman walking a horse down a road", "landscape", {"person", "horse", "road"}),
    ("a church and a tower in the snow", "watercolour", {"church", "tower"}),
    ("whales and fish in the ocean", "flow", {"whale", "fish", "sea"}),
    ("an old ship with white sails", "ink", {"ship"}),
    ("a car and a train crossing a bridge", "shapes", {"car", "train", "bridge"}),
    ("a tent and a campfire beside a lake", "landscape", {"tent", "fire", "lake"}),
    ("an owl holding a lantern in the woods", "mosaic", {"owl", "lantern", "forest"}),
    ("a fox and a deer behind a fence", "painting", {"fox", "deer", "fence"}),
    ("a single red rose and a cloud", "photo", {"rose", "cloud"}),
    ("the sun over a pyramid", "watercolour", {"sun", "pyramid"}),
    ("sheep and a cow near a barn", "ink", {"sheep", "cow", "barn"}),
    ("a snowman, a rabbit and a mushroom", "flow", {"snowman", "rabbit", "mushroom"}),
]


def names(sketch: Sketch) -> set[str]:
    return {p.name for p in sketch.placed}


def region(sketch: Sketch, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return sketch.pixels[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)


def test_the_catalogue_is_large_and_every_thing_has_a_look() -> None:
    assert len(SUBJECTS) >= 40
    drawn_by_code = {"sky", "sea", "lake", "river", "road", "field", "forest", "rainbow"}
    assert set(SUBJECTS) - set(FIGURES) == drawn_by_code
    assert singular("sailboats") == "boat" and singular("ponies") == "horse"
    assert singular("wolves") == "dog" and singular("churches") == "church"
    assert singular("people") == "person" and singular("kraken") == ""


@pytest.mark.parametrize(("prompt", "style", "expected"), PROMPTS)
def test_each_named_subject_is_drawn(prompt: str, style: str, expected: set[str]) -> None:
    sketch = render(prompt, 3, style=style, size=SIZE)
    assert expected <= names(sketch), f"{prompt}: drew {sorted(names(sketch))}"
    assert sketch.not_drawn == ()
    again = render(prompt, 3, style=style, size=SIZE)
    assert np.array_equal(sketch.pixels, again.pixels) and sketch.placed == again.placed
    for thing in sketch.placed:
        x0, y0, x1, y1 = thing.box
        assert 0 <= x0 < x1 <= SIZE[0] and 0 <= y0 < y1 <= SIZE[1], thing


@pytest.mark.parametrize(
    ("prompt", "style", "name"),
    [
        ("a lighthouse by the sea at night", "landscape", "lighthouse"),
        ("a red boat on a blue sea", "photo", "boat"),
        ("a castle on a hill", "shapes", "castle"),
        ("a yellow house and a tree", "landscape", "house"),
        ("a green car on a road", "shapes", "car"),
    ],
)
def test_the_reported_region_shows_the_thing(prompt: str, style: str, name: str) -> None:
    sketch = render(prompt, 5, style=style, size=SIZE)
    thing = next(p for p in sketch.placed if p.name == name)
    pixels = region(sketch, thing.box) / 255
    # Not background: a good share of the box is the thing's own colour.
    near = np.abs(pixels - np.array(thing.colour, np.float32)).max(axis=1) < 0.16
    assert near.mean() > 0.15, f"{name}: {near.mean():.2f} of its box has its colour"


@pytest.mark.parametrize("style", sorted(COMPOSITIONS))
def test_a_crimson_sky_is_the_sky_not_the_hills(style: str) -> None:
    sketch = render("a crimson sky over the hills", 2, style=style, size=SIZE)
    sky = next(p for p in sketch.placed if p.name == "sky")
    assert sky.colour_word == "crimson"
    h = SIZE[1]
    top = sketch.pixels[: int(h * 0.3)].reshape(-1, 3).astype(np.float32).mean(axis=0)
    ground = sketch.pixels[int(h * 0.8) :].reshape(-1, 3).astype(np.float32).mean(axis=0)
    assert top[0] > top[1] + 40 and top[0] > top[2] + 15, f"sky {top}"
    assert not (ground[0] > ground[1] + 25 and ground[0] > ground[2] + 15), f"hills {ground}"


@pytest.mark.parametrize("style", sorted(COMPOSITIONS))
def test_a_red_boat_on_a_blue_sea(style: str) -> None:
    sketch = render("a red boat on a blue sea", 4, style=style, size=SIZE)
    boat = next(p for p in sketch.placed if p.name == "boat")
    sea = next(p for p in sketch.placed if p.name == "sea")
    assert (boat.colour_word, sea.colour_word) == ("red", "blue")
    boat_px = region(sketch, boat.box)
    reddish = (boat_px[:, 0] > boat_px[:, 1] + 40) & (boat_px[:, 0] > boat_px[:, 2] + 30)
    assert reddish.mean() > 0.08, f"boat: {reddish.mean():.2f} red"
    r, g, b = region(sketch, sea.box).mean(axis=0)
    assert b > r + 20, f"sea {(r, g, b)}"


def test_farther_things_are_smaller_higher_and_paler() -> None:
    sketch = render("three trees", 1, style="photo", size=(256, 256))
    trees = sorted((p for p in sketch.placed if p.name == "tree"), key=lambda p: p.depth)
    assert len(trees) == 3
    near, far = trees[0], trees[-1]
    assert far.depth > near.depth
    assert far.box[3] - far.box[1] < near.box[3] - near.box[1]  # smaller
    assert far.box[3] < near.box[3]  # its base higher, nearer the horizon
    saturation = [max(t.colour) - min(t.colour) for t in (near, far)]
    assert saturation[1] < saturation[0]  # paler


def test_colours_bind_to_their_nouns_and_unknown_nouns_are_named() -> None:
    asked, unknown = read_prompt("a tall white lighthouse, a red boat and two black cats")
    got = {a.name: (a.colour_word, a.count) for a in asked}
    assert got == {"lighthouse": ("white", 1), "boat": ("red", 1), "cat": ("black", 2)}
    assert unknown == []
    asked, unknown = read_prompt("a kraken and a dragon by the sea at dawn")
    assert [a.name for a in asked] == ["sea"] and unknown == ["kraken", "dragon"]
    sketch = render("a kraken beside a boat", 1, style="ink", size=SIZE)
    assert sketch.not_drawn == ("kraken",) and sketch.drawn() == ["a boat"]


def test_a_prompt_without_things_draws_as_before() -> None:
    sketch = render("calm and quiet", 1, style="flow", size=SIZE)
    assert sketch.placed == () and sketch.not_drawn == ()
