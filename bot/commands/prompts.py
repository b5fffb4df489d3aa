"""Prompt building for the writing commands (/poem, /story, /script, /brainstorm and its
Expand). Pure functions.

Each builds a `TextSpec`: a system + instruction pair for chat models and a completion
prompt for base models (such as Atelier's own small poet), plus sampling settings.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.jobs import OptionValue, TextSpec

SYSTEM = (
    "You are Atelier, a creative writing collaborator for artists. Write original work, "
    "vivid and concrete, and reply with the piece only: no preamble, no notes."
)

# What each form asks for, and a token budget that fits it.
POEM_FORMS: dict[str, tuple[str, int]] = {
    "free": ("free verse, in short lines", 0),
    "haiku": ("a haiku: three lines of five, seven and five syllables", 48),
    "tanka": ("a tanka: five lines of 5, 7, 5, 7 and 7 syllables", 72),
    "cinquain": ("a cinquain: five lines of 2, 4, 6, 8 and 2 syllables", 64),
    "couplet": ("a rhyming couplet: two lines that rhyme", 48),
    "quatrain": ("a quatrain: four lines rhyming ABAB", 96),
    "limerick": ("a limerick: five lines rhyming AABBA with a bouncing rhythm", 96),
    "sonnet": ("a sonnet: fourteen lines of iambic pentameter rhyming ABAB CDCD EFEF GG", 320),
    "villanelle": ("a villanelle: nineteen lines, five tercets and a quatrain, two refrains", 320),
    "acrostic": ("an acrostic whose line initials spell the first word of the topic", 160),
}
FREE_VERSE_TOKENS = {"short": 96, "medium": 192, "long": 320}
STORY_TOKENS = {"short": 256, "medium": 512, "long": 1024}
SCRIPT_TOKENS = {"short": 256, "medium": 512, "long": 900}
TOP_P = 0.95


def build_text_spec(command: str, prompt: str, options: dict[str, OptionValue]) -> TextSpec:
    """The generation request for a writing command's validated options."""
    builder = _BUILDERS.get(command)
    if builder is None:
        raise KeyError(f"no prompt builder for /{command}")
    return builder(prompt, options)


def poem(topic: str, options: dict[str, OptionValue]) -> TextSpec:
    form = str(options.get("form", "free"))
    form_text, budget = POEM_FORMS[form]
    length = str(options.get("length", "medium"))
    budget = budget or FREE_VERSE_TOKENS[length]
    shade = _shade(options)
    instruction = f"Write {form_text}, about {_quote(topic)}.{shade}"
    title = "A poem" if form == "free" else f"A {form}"
    completion = f"{title} about {topic}{_tags(options)}.\n\n"
    return _spec(instruction, completion, budget, options)


def story(premise: str, options: dict[str, OptionValue]) -> TextSpec:
    genre = str(options.get("genre", "any"))
    pov = str(options.get("pov", "third"))
    length = str(options.get("length", "medium"))
    words = {"short": "about 200 words", "medium": "about 400 words", "long": "about 800 words"}
    kind = "short story" if genre == "any" else f"short {genre} story"
    instruction = (
        f"Write a {kind} of {words[length]}, told in the {pov} person, from this premise: "
        f"{_quote(premise)}.{_shade(options)}"
    )
    completion = f"A {kind}{_tags(options)}. {premise.rstrip('.')}.\n\n"
    return _spec(instruction, completion, STORY_TOKENS[length], options)


def script(scene: str, options: dict[str, OptionValue]) -> TextSpec:
    fmt = str(options.get("format", "scene"))
    characters = int(options.get("characters", 2))
    length = str(options.get("length", "medium"))
    who = "one character" if characters == 1 else f"{characters} characters"
    instruction = (
        f"Write a {fmt} script with {who}, formatted with character names in capitals "
        f"before their lines and stage directions in brackets. It shows: {_quote(scene)}."
        f"{_shade(options)}"
    )
    completion = f"{fmt.upper()}: {scene}{_tags(options)}\n\n"
    return _spec(instruction, completion, SCRIPT_TOKENS[length], options)


def brainstorm(topic: str, options: dict[str, OptionValue]) -> TextSpec:
    """A numbered list of ideas; with `like`, new ideas in the spirit of one given idea."""
    count = int(options.get("count", 8))
    like = str(options.get("like", "")).strip()
    more = f", in the spirit of this one: {_quote(like)}" if like else ""
    instruction = (
        f"List {count} distinct, concrete ideas for {_quote(topic)}{more}. One idea per line, "
        "numbered 1., 2., 3., each a short phrase or sentence."
    )
    completion = f"{count} ideas for {topic}{more}:\n1."
    return _spec(instruction, completion, min(24 * count + 32, 512), options)


def expand(idea: str, options: dict[str, OptionValue]) -> TextSpec:
    """An elaborated version of one brainstormed idea (`topic`: the session's topic)."""
    topic = str(options.get("topic", "")).strip()
    about = f" for {_quote(topic)}" if topic else ""
    instruction = (
        f"Expand this idea{about} into a short paragraph: what it is, how it would work, and "
        f"a first step to try it. The idea: {_quote(idea)}."
    )
    completion = f"The idea{about}: {idea}\n\nIn more detail: "
    return _spec(instruction, completion, 160, options)


_BUILDERS: dict[str, Callable[[str, dict[str, OptionValue]], TextSpec]] = {
    "poem": poem,
    "story": story,
    "script": script,
    "brainstorm": brainstorm,
    "expand": expand,
}


def _spec(
    instruction: str, completion: str, budget: int, options: dict[str, OptionValue]
) -> TextSpec:
    return TextSpec(
        system=SYSTEM,
        instruction=instruction,
        completion=completion,
        max_new_tokens=budget,
        temperature=float(options.get("temperature", 0.9)),
        top_p=TOP_P,
        repetition_penalty=1.1,
    )


def _shade(options: dict[str, OptionValue]) -> str:
    parts = []
    if options.get("mood"):
        parts.append(f" The mood is {options['mood']}.")
    if options.get("style"):
        parts.append(f" Write in a {options['style']} style.")
    return "".join(parts)


def _tags(options: dict[str, OptionValue]) -> str:
    tags = [str(options[k]) for k in ("mood", "style") if options.get(k)]
    return f" ({', '.join(tags)})" if tags else ""


def _quote(text: str) -> str:
    return "“" + text.strip() + "”"
