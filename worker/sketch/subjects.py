"""What a prompt asks to see: the drawable things it names, the colour bound to each, and
the nouns the renderer cannot draw.

Data first: `SUBJECTS` says, per thing, where it goes in a scene (`sky`, `ground`,
`water`, `horizon` or a `region` such as the sea) and its size and colour; `ALIASES` maps
synonyms to them; plurals are read by `singular`. A colour word binds to the noun right
after it, skipping a few size and light words ("a red boat", "crimson sky", "a tall
white lighthouse"); a bound colour paints that thing, not the whole palette.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.sketch.palette import COLOURS, MOODS, SYNONYMS, THINGS, words_of


@dataclass(frozen=True)
class Kind:
    place: str  # sky, ground, water, horizon, region
    height: float  # share of the canvas height when nearest (ground) or as drawn (sky)
    aspect: float  # width / height
    colour: str  # the default main colour


SUBJECTS: dict[str, Kind] = {
    # In the sky.
    "sun": Kind("sky", 0.16, 1.0, "#f7c84a"),
    "moon": Kind("sky", 0.13, 1.0, "#efedd8"),
    "star": Kind("sky", 0.035, 1.0, "#fff6d0"),
    "cloud": Kind("sky", 0.1, 2.4, "#f2f3f6"),
    "rainbow": Kind("sky", 0.32, 2.0, "#e04040"),
    "bird": Kind("sky", 0.04, 2.0, "#2a2a30"),
    # Regions of the scene.
    "sky": Kind("region", 0.0, 1.0, "#7fb2e0"),
    "sea": Kind("region", 0.0, 1.0, "#1f5f8b"),
    "lake": Kind("region", 0.0, 1.0, "#3f7f9f"),
    "river": Kind("region", 0.0, 1.0, "#4f8faf"),
    "road": Kind("region", 0.0, 1.0, "#8a7f70"),
    "field": Kind("region", 0.0, 1.0, "#7faf4a"),
    # On the horizon: big and far.
    "mountain": Kind("horizon", 0.3, 1.8, "#6a7a9a"),
    "forest": Kind("horizon", 0.14, 3.0, "#2f5f3a"),
    # Standing on the ground.
    "lighthouse": Kind("ground", 0.5, 0.3, "#f0ecd8"),
    "house": Kind("ground", 0.24, 1.1, "#d8b890"),
    "tree": Kind("ground", 0.36, 0.7, "#3f7f3f"),
    "cat": Kind("ground", 0.1, 1.0, "#4a4a4a"),
    "flower": Kind("ground", 0.1, 0.6, "#e05080"),
    "person": Kind("ground", 0.22, 0.35, "#3a4a7a"),
    "dog": Kind("ground", 0.11, 1.4, "#8a5a30"),
    "horse": Kind("ground", 0.22, 1.3, "#7a4a2a"),
    "castle": Kind("ground", 0.34, 1.3, "#a8a49a"),
    "church": Kind("ground", 0.36, 0.8, "#e0d8c8"),
    "windmill": Kind("ground", 0.4, 0.6, "#e8dcc0"),
    "car": Kind("ground", 0.1, 2.0, "#c62828"),
    "train": Kind("ground", 0.1, 4.0, "#3a3a48"),
    "fence": Kind("ground", 0.08, 5.0, "#a07850"),
    "tower": Kind("ground", 0.46, 0.3, "#9a948a"),
    "tent": Kind("ground", 0.16, 1.4, "#e8a040"),
    "fire": Kind("ground", 0.1, 0.8, "#f06a1f"),
    "lantern": Kind("ground", 0.1, 0.5, "#f0a020"),
    "owl": Kind("ground", 0.12, 0.75, "#8a6a4a"),
    "fox": Kind("ground", 0.1, 1.6, "#e06a20"),
    "deer": Kind("ground", 0.2, 1.1, "#a8743f"),
    "rose": Kind("ground", 0.12, 0.5, "#d0304f"),
    "sunflower": Kind("ground", 0.3, 0.4, "#f2c21e"),
    "bridge": Kind("ground", 0.14, 3.2, "#8a6a50"),
    "cow": Kind("ground", 0.14, 1.5, "#f0eee8"),
    "sheep": Kind("ground", 0.1, 1.4, "#f0ece0"),
    "rabbit": Kind("ground", 0.08, 1.0, "#b0a090"),
    "bench": Kind("ground", 0.08, 2.0, "#8a5a30"),
    "barn": Kind("ground", 0.24, 1.3, "#b03a2a"),
    "rock": Kind("ground", 0.08, 1.6, "#8a8680"),
    "mushroom": Kind("ground", 0.08, 1.0, "#d03a2a"),
    "snowman": Kind("ground", 0.2, 0.6, "#f6f8fc"),
    "pyramid": Kind("ground", 0.3, 1.6, "#dcb87a"),
    # On the water.
    "boat": Kind("water", 0.13, 1.4, "#c0503a"),
    "ship": Kind("water", 0.3, 1.3, "#5a3a2a"),
    "fish": Kind("water", 0.06, 2.0, "#f08a30"),
    "whale": Kind("water", 0.12, 2.6, "#3a4a60"),
    "swan": Kind("water", 0.08, 1.2, "#f6f6f2"),
}  # fmt: skip

ALIASES: dict[str, str] = {
    "cottage": "house", "cabin": "house", "hut": "house", "home": "house", "farmhouse": "house",
    "oak": "tree", "pine": "tree", "birch": "tree", "willow": "tree", "maple": "tree",
    "kitten": "cat", "kitty": "cat", "puppy": "dog", "hound": "dog", "wolf": "dog",
    "wolves": "dog", "man": "person", "men": "person", "woman": "person", "women": "person",
    "child": "person", "children": "person", "girl": "person", "boy": "person",
    "people": "person", "astronaut": "person", "sailor": "person", "fisherman": "person",
    "farmer": "person", "king": "person", "queen": "person", "knight": "person",
    "mother": "person", "father": "person", "grandmother": "person", "grandfather": "person",
    "friend": "person", "dancer": "person", "lovers": "person", "figure": "person",
    "wanderer": "person", "traveller": "person",
    "pony": "horse", "stallion": "horse", "mare": "horse", "fortress": "castle",
    "palace": "castle", "cathedral": "church", "chapel": "church", "temple": "church",
    "sailboat": "boat", "canoe": "boat", "rowboat": "boat", "yacht": "boat", "dinghy": "boat",
    "galleon": "ship", "steamer": "ship", "automobile": "car", "locomotive": "train",
    "campfire": "fire", "bonfire": "fire", "flame": "fire", "flames": "fire", "lamp": "lantern",
    "stag": "deer", "doe": "deer", "fawn": "deer", "ocean": "sea", "pond": "lake",
    "harbour": "sea", "harbor": "sea", "bay": "sea", "port": "sea",
    "stream": "river", "creek": "river", "path": "road", "street": "road", "lane": "road",
    "hill": "mountain", "peak": "mountain", "woods": "forest", "woodland": "forest",
    "daisy": "flower", "tulip": "flower", "blossom": "flower", "sparrow": "bird",
    "gull": "bird", "seagull": "bird", "crow": "bird", "swallow": "bird", "raven": "bird",
    "spire": "tower", "camp": "tent", "bunny": "rabbit", "hare": "rabbit", "lamb": "sheep",
    "boulder": "rock", "stone": "rock", "meadow": "field", "skies": "sky", "mice": "rabbit",
    "geese": "bird", "goose": "bird", "duck": "swan", "calf": "cow", "dolphin": "fish",
}  # fmt: skip
PLURAL_EXTRA = 2  # a plural draws this many more of the thing
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
IRREGULAR_PLURALS = frozenset({"people", "children", "men", "women", "geese", "mice", "wolves"})
# Light and size words between a colour and its noun ("a red old boat").
BETWEEN = frozenset(
    words_of(
        "little small big large tall tiny old lone lonely single wooden stone bright pale dark"
    )
)
# Words that are not things to draw: grammar, light, time, weather, feeling.
NOT_NOUNS = frozenset(
    words_of(
        """a an the and or of in on at by to from with over under above below beside near into
    onto through across behind before after among between around up down out off far this
    that these those its his her their our my your one two three four five some many few
    six seven is are was were be being been it there here very so all each every as for like
    light glow shadow shadows wind rain snow fog mist storm weather air breeze
    morning evening noon day afternoon time season spring summer autumn winter
    sunset sunrise dawn dusk twilight night midnight nocturne sketch picture painting
    scene view style photo image drawing beautiful lovely quiet gentle under while
        sail sails mast roof window windows door wall walls top side edge shore coast
    """
    )
)


@dataclass(frozen=True)
class Asked:
    name: str  # the subject, e.g. "boat"
    word: str  # the prompt's word, e.g. "sailboats"
    colour_word: str  # the colour bound to it, or ""
    count: int


def singular(word: str) -> str:
    """The subject a word names, plurals and synonyms read; "" when it names none."""
    for form in (word, _strip_plural(word)):
        if form in SUBJECTS:
            return form
        if form in ALIASES:
            return ALIASES[form]
    return ""


def _strip_plural(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("ves") and len(word) > 4:
        return word[:-3] + "f"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def read_prompt(prompt: str) -> tuple[list[Asked], list[str]]:
    """The subjects asked for (first mention first, colours bound) and the nouns not drawn."""
    words = words_of(prompt)
    asked: dict[str, Asked] = {}
    unknown: list[str] = []
    for i, word in enumerate(words):
        name = singular(word)
        if not name:
            if _could_be_noun(word, words, i) and word not in unknown:
                unknown.append(word)
            continue
        if name == "rose" and word in COLOURS and _next_is_subject(words, i):
            continue  # "rose" the colour, as in "a rose sky"
        plural = word in IRREGULAR_PLURALS or (
            word.endswith("s") and word != name and word not in ALIASES
        )
        extra = PLURAL_EXTRA * (3 if name == "star" else 1)  # a sky has many stars
        count = 1 + (extra if plural and name not in _UNCOUNTED else 0)
        colour = _colour_before(words, i)
        j = i - 1 - (colour != "")
        while j >= 0 and words[j] in BETWEEN:
            j -= 1
        if j >= 0 and words[j] in NUMBERS and name not in _UNCOUNTED:
            count = NUMBERS[words[j]]
        if name in asked:
            prev = asked[name]
            asked[name] = Asked(name, prev.word, prev.colour_word or colour, max(prev.count, count))
        else:
            asked[name] = Asked(name, word, colour, count)
    return list(asked.values()), unknown


_UNCOUNTED = frozenset({"sky", "sea", "lake", "river", "road", "field", "forest", "sun", "moon"})


def _colour_before(words: list[str], i: int) -> str:
    j = i - 1
    while j >= 0 and words[j] in BETWEEN:
        j -= 1
    if j >= 0 and words[j] in COLOURS:
        return words[j]
    return ""


def _next_is_subject(words: list[str], i: int) -> bool:
    return i + 1 < len(words) and bool(singular(words[i + 1]))


def _could_be_noun(word: str, words: list[str], i: int) -> bool:
    if len(word) < 3 or word in NOT_NOUNS or word in COLOURS or word in BETWEEN:
        return False
    if word in MOODS or word in SYNONYMS or word in THINGS:
        return False  # atmosphere: the palette draws it
    if word.endswith(("ly", "ing", "ed", "ful", "ous", "ish", "est")):
        return False
    # A noun in a prompt mostly follows an article or an adjective, or ends the phrase.
    before = words[i - 1] if i else ""
    return before in _BEFORE_NOUNS or before in COLOURS or before in NUMBERS or i == 0


_BEFORE_NOUNS = frozenset(
    {"a", "an", "the", "of", "and", "with", "my", "his", "her", "their", "our", "your", "some"}
)
