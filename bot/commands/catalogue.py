"""The command catalogue: every user-facing command as data, in one place.

Adapters build their slash commands from this (Discord typed options, Slack text options,
the console's help); the parser validates against it. Nothing here does IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.jobs import JobKind, OptionValue

OptionType = Literal["str", "int", "float", "bool", "choice", "file"]
MAX_PROMPT_CHARS = 1000
SEED_MAX = 2**32 - 1


@dataclass(frozen=True)
class Option:
    name: str
    type: OptionType
    help: str
    default: OptionValue | None = None
    choices: tuple[str, ...] = ()  # for "choice": the only allowed values
    suggestions: tuple[str, ...] = ()  # for "str": autocomplete hints, any value allowed
    min: float | None = None
    max: float | None = None
    max_length: int = 100

    def describe_allowed(self) -> str:
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type in ("int", "float"):
            kind = "a whole number" if self.type == "int" else "a number"
            return f"{kind} from {_num(self.min)} to {_num(self.max)}"
        if self.type == "bool":
            return "yes or no"
        if self.type == "file":
            return "an uploaded file or a link to one"
        return f"text up to {self.max_length} characters"


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    kind: JobKind | None = None  # the job kind it enqueues; None for bot-side commands
    prompt: str = ""  # what the free words mean ("" = the command takes no free words)
    prompt_required: bool = True
    options: tuple[Option, ...] = ()
    subcommands: tuple[Command, ...] = ()
    available: bool = True  # False: answers "not available yet on this deployment"
    example: str = ""

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def subcommand(self, name: str) -> Command | None:
        return next((c for c in self.subcommands if c.name == name), None)


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


# Options shared by the generation commands ---------------------------------------------
SEED = Option(
    "seed",
    "int",
    "Random seed; the same seed and settings give the same piece.",
    min=0,
    max=SEED_MAX,
)
TEMPERATURE = Option(
    "temperature",
    "float",
    "How adventurous the wording is (higher: wilder).",
    default=0.9,
    min=0.1,
    max=1.5,
)
MOOD = Option(
    "mood",
    "str",
    "The feeling to aim for.",
    suggestions=(
        "calm",
        "joyful",
        "melancholy",
        "eerie",
        "romantic",
        "hopeful",
        "defiant",
        "playful",
        "nostalgic",
        "solemn",
    ),
)
STYLE = Option(
    "style",
    "str",
    "A style or voice to write in.",
    suggestions=(
        "romantic",
        "imagist",
        "modernist",
        "ballad",
        "minimalist",
        "gothic",
        "pastoral",
        "surreal",
        "beat",
        "fairy tale",
    ),
)
LENGTH = Option(
    "length", "choice", "Roughly how long.", default="medium", choices=("short", "medium", "long")
)

POEM_FORMS = (
    "free",
    "haiku",
    "limerick",
    "sonnet",
    "couplet",
    "quatrain",
    "tanka",
    "cinquain",
    "villanelle",
    "acrostic",
)

_POEM = Command(
    "poem",
    "Write a poem on a topic, in a form you choose.",
    JobKind.TEXT,
    prompt="the topic of the poem",
    options=(
        Option("form", "choice", "The poetic form.", default="free", choices=POEM_FORMS),
        MOOD,
        STYLE,
        LENGTH,
        SEED,
        TEMPERATURE,
    ),
    example="/poem the sea at dusk form:haiku mood:calm",
)
_STORY = Command(
    "story",
    "Write a short story from a premise.",
    JobKind.TEXT,
    prompt="the premise of the story",
    options=(
        Option(
            "genre",
            "choice",
            "The genre.",
            default="any",
            choices=(
                "any",
                "fantasy",
                "science-fiction",
                "mystery",
                "fable",
                "horror",
                "romance",
                "adventure",
                "slice-of-life",
            ),
        ),
        Option(
            "pov", "choice", "Point of view.", default="third", choices=("first", "second", "third")
        ),
        MOOD,
        STYLE,
        LENGTH,
        SEED,
        TEMPERATURE,
    ),
    example="/story a lighthouse keeper finds a letter genre:mystery length:short",
)
_SCRIPT = Command(
    "script",
    "Write a scene, a dialogue or a comic script.",
    JobKind.TEXT,
    prompt="what happens in the scene",
    options=(
        Option(
            "format",
            "choice",
            "The script format.",
            default="scene",
            choices=("scene", "dialogue", "comic", "sketch", "monologue", "trailer"),
        ),
        Option("characters", "int", "How many speaking characters.", default=2, min=1, max=6),
        MOOD,
        STYLE,
        LENGTH,
        SEED,
        TEMPERATURE,
    ),
    example='/script two rivals share an umbrella format:dialogue mood:"quietly funny"',
)
_IMAGE = Command(
    "image",
    "Make an image from a description.",
    JobKind.IMAGE,
    prompt="what the image shows",
    options=(
        Option(
            "style",
            "choice",
            "The look of the image.",
            default="any",
            choices=(
                "any",
                "watercolour",
                "flow",
                "mosaic",
                "shapes",
                "landscape",
                "ink",
                "photo",
                "painting",
            ),
        ),
        Option(
            "size",
            "choice",
            "Width x height in pixels.",
            default="768x768",
            choices=("512x512", "768x768", "1024x1024", "768x512", "512x768"),
        ),
        SEED,
        Option("steps", "int", "Denoising steps (more: slower, finer).", min=1, max=50),
    ),
    example="/image a lighthouse in fog style:watercolour",
)
_MELODY = Command(
    "melody",
    "Compose a short melody.",
    JobKind.MUSIC,
    prompt="what the melody is about",
    options=(
        MOOD,
        Option("tempo", "int", "Beats per minute (default: from the mood).", min=40, max=220),
        Option(
            "key",
            "choice",
            "The key (default: from the mood).",
            choices=("C", "G", "D", "A", "E", "F", "Bb", "Eb", "Am", "Em", "Bm", "Dm", "Gm", "Cm"),
        ),
        Option("length", "int", "Length in bars.", default=16, min=4, max=64),
        SEED,
    ),
    example="/melody a walk by the river mood:hopeful key:G",
)
_INSPIRE = Command(
    "inspire",
    "A cross-domain inspiration pack: a poem, an image and a melody on one theme.",
    JobKind.TEXT,
    prompt="the theme",
    options=(MOOD, SEED),
    example="/inspire harvest moon",
)
_BRAINSTORM = Command(
    "brainstorm",
    "Brainstorm a numbered list of ideas to vote on.",
    JobKind.TEXT,
    prompt="the topic",
    options=(
        Option("count", "int", "How many ideas.", default=8, min=3, max=15),
        SEED,
        TEMPERATURE,
    ),
    example="/brainstorm names for our zine count:10",
)
_COLLAB = Command(
    "collab",
    "Write a poem together, line by line.",
    prompt="",
    prompt_required=False,
    example=(
        "/collab start winter form:quatrain model:3, then reply in the thread it opens with "
        "your line (on Discord mention the bot in it, unless the bot may read messages)"
    ),
    subcommands=(
        Command(
            "start",
            "Start a poem written together here.",
            prompt="the theme",
            prompt_required=False,
            options=(
                Option(
                    "form", "choice", "The form to keep to.", default="free", choices=POEM_FORMS
                ),
                Option(
                    "turns",
                    "int",
                    "How many lines in all (a fixed form sets its own).",
                    default=8,
                    min=2,
                    max=40,
                ),
                Option(
                    "model",
                    "int",
                    "The model writes every n-th line (0: only when asked).",
                    default=0,
                    min=0,
                    max=10,
                ),
            ),
        ),
        Command(
            "line",
            "Add your line (or reply in the poem's thread; on Discord mention the bot there).",
            prompt="your line",
        ),
        Command("model", "Ask the model for the next line.", prompt_required=False),
        Command(
            "finish",
            "Compile the poem with each line credited.",
            prompt_required=False,
            options=(
                Option(
                    "illustrate",
                    "bool",
                    "Also make an /image from the poem's imagery.",
                    default=False,
                ),
            ),
        ),
    ),
)
_CHALLENGE = Command(
    "challenge",
    "Community art-prompt challenges with submissions and votes.",
    prompt_required=False,
    subcommands=(
        Command(
            "new",
            "Open a challenge (moderators); with no theme the model proposes three.",
            prompt="the theme",
            prompt_required=False,
            options=(
                Option(
                    "duration",
                    "str",
                    "How long entries are taken, e.g. 3d or 12h.",
                    default="3d",
                    max_length=8,
                ),
                Option(
                    "voting",
                    "str",
                    "How long voting lasts after entries close, e.g. 1d.",
                    default="1d",
                    max_length=8,
                ),
                Option(
                    "kind",
                    "choice",
                    "What entries may be.",
                    default="any",
                    choices=("any", "poem", "image", "melody"),
                ),
                Option("rules", "str", "Extra rules shown to entrants.", max_length=300),
                Option(
                    "every",
                    "choice",
                    "Open a new one on a schedule.",
                    choices=("day", "week", "month"),
                ),
                Option(
                    "blind",
                    "bool",
                    "Keep entries hidden until voting opens.",
                    default=False,
                ),
                Option(
                    "hide_counts",
                    "bool",
                    "Hide vote counts until the end.",
                    default=False,
                ),
                Option(
                    "newcomers",
                    "bool",
                    "May members who joined after it opened vote?",
                    default=True,
                ),
                Option("entries", "int", "Entries allowed per member.", default=1, min=1, max=5),
                Option("pick", "int", "Pick one of the model's proposed themes.", min=1, max=3),
            ),
        ),
        Command(
            "submit",
            "Enter your own work: text, a file's link, or one of your results.",
            prompt="your entry, or a link to it",
            prompt_required=False,
            options=(
                Option(
                    "made",
                    "choice",
                    "How it was made.",
                    default="human",
                    choices=("human", "ai-assisted", "ai-generated"),
                ),
                Option("result", "str", "The id of one of your Atelier results.", max_length=64),
                Option(
                    "file",
                    "file",
                    "Your image or audio file (Discord: upload it; elsewhere: its link).",
                    max_length=2000,
                ),
            ),
        ),
        Command(
            "vote",
            "See the entries, or vote for one.",
            prompt_required=False,
            options=(Option("entry", "int", "The entry's number.", min=1, max=25),),
        ),
        Command("leaderboard", "This server's leaderboard and streaks.", prompt_required=False),
        Command("end", "End the current challenge now (moderators).", prompt_required=False),
    ),
)
_GALLERY = Command(
    "gallery",
    "Browse results with how they were made; /gallery web: a link to its web page.",
    prompt="web, for a link to the gallery's web page",
    prompt_required=False,
    options=(
        Option("user", "str", "Only this member's pieces.", max_length=64),
        Option(
            "kind",
            "choice",
            "Only this kind.",
            choices=("poem", "story", "script", "image", "melody"),
        ),
        Option("page", "int", "Page number.", default=1, min=1, max=1000),
        Option("delete", "str", "Delete one of your pieces by its id.", max_length=24),
    ),
)
_STYLE = Command(
    "style",
    "The server's shared styles: save one, make a piece in it, list them.",
    prompt_required=False,
    subcommands=(
        Command(
            "save",
            "Save a style: its name, then the words it adds to prompts.",
            prompt="the style's name, then the words it adds",
            options=(
                Option(
                    "command",
                    "choice",
                    "What the style is for.",
                    default="poem",
                    choices=("poem", "story", "script", "image", "melody"),
                ),
                Option("model", "str", "A model the style uses.", max_length=200),
            ),
            example="/style save dusk soft light, muted colours, long shadows",
        ),
        Command(
            "use",
            "Make a piece in a saved style.",
            prompt="the style's name, then your prompt",
            example="/style use dusk a harbour",
        ),
        Command("list", "The server's styles and how often each was used.", prompt_required=False),
    ),
)
_ATELIER = Command(
    "atelier",
    "Help, status and settings.",
    prompt_required=False,
    subcommands=(
        Command(
            "help",
            "How to use Atelier, or one command in detail.",
            prompt="a command name",
            prompt_required=False,
        ),
        Command("status", "Queue depth, workers online and your jobs.", prompt_required=False),
        Command(
            "settings",
            "Server settings (admins).",
            prompt_required=False,
            options=(
                Option("key", "str", "The setting to show or change.", max_length=40),
                Option("value", "str", "Its new value.", max_length=300),
            ),
        ),
    ),
)

CATALOGUE: tuple[Command, ...] = (
    _POEM,
    _STORY,
    _SCRIPT,
    _IMAGE,
    _MELODY,
    _INSPIRE,
    _BRAINSTORM,
    _COLLAB,
    _CHALLENGE,
    _GALLERY,
    _STYLE,
    _ATELIER,
)
_BY_NAME = {c.name: c for c in CATALOGUE}


def command(name: str) -> Command | None:
    return _BY_NAME.get(name)


def names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def defaults(cmd: Command) -> dict[str, OptionValue]:
    return {o.name: o.default for o in cmd.options if o.default is not None}
