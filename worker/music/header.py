"""What a /melody job asks for, as an ABC header: title, rhythm, metre, unit, tempo, key.

The options win; where one is not given, the mood (and rhythm words in the prompt, such as
"waltz" or "jig") chooses: a calm piece is an air in 3/4 at an easy pace, a joyful one a jig.
The header is written in the field order of the training corpus (X T R M L Q K), so the
melody model continues it as it learned to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from bot.jobs import Job


@dataclass(frozen=True)
class Style:
    key: str
    meter: str
    tempo: int  # beats per minute
    timbre: str
    rhythm: str = ""  # the corpus's R: field ("reel", "jig", "air"...), when it helps


DEFAULT_STYLE = Style("G", "C", 100, "soft", "reel")
MOODS: dict[str, Style] = {
    "calm": Style("D", "3/4", 76, "soft", "air"),
    "joyful": Style("G", "6/8", 116, "pluck", "jig"),
    "happy": Style("G", "6/8", 116, "pluck", "jig"),
    "playful": Style("D", "2/4", 112, "pluck", "polka"),
    "hopeful": Style("D", "C", 96, "soft", "reel"),
    "melancholy": Style("Em", "3/4", 66, "reed", "air"),
    "sad": Style("Am", "3/4", 60, "reed", "air"),
    "nostalgic": Style("Am", "6/8", 80, "soft", "air"),
    "romantic": Style("F", "3/4", 72, "soft", "waltz"),
    "eerie": Style("Dm", "6/8", 70, "reed", "air"),
    "solemn": Style("Gm", "C", 60, "reed", "air"),
    "defiant": Style("Am", "C|", 120, "pluck", "reel"),
    "energetic": Style("A", "C|", 132, "pluck", "reel"),
}
RHYTHMS: dict[str, tuple[str, str]] = {  # prompt word -> (metre, R: field)
    "waltz": ("3/4", "waltz"),
    "air": ("3/4", "air"),
    "jig": ("6/8", "jig"),
    "reel": ("C|", "reel"),
    "hornpipe": ("C", "hornpipe"),
    "march": ("2/4", "march"),
    "polka": ("2/4", "polka"),
    "slip": ("9/8", "slip jig"),
}
UNIT = "1/8"


@dataclass(frozen=True)
class Request:
    title: str
    key: str
    meter: str
    tempo: int
    bars: int
    timbre: str
    rhythm: str

    @property
    def beat(self) -> Fraction:
        """The note the tempo counts: a dotted quarter in 6/8 and 9/8, a half in cut time."""
        if self.meter in ("6/8", "9/8", "12/8"):
            return Fraction(3, 8)
        if self.meter == "C|":
            return Fraction(1, 2)
        return Fraction(1, 4)

    @property
    def whole_note_s(self) -> float:
        return float(60 / (self.tempo * self.beat))

    def header(self) -> str:
        lines = ["X:1", f"T:{self.title}"]
        if self.rhythm:
            lines.append(f"R:{self.rhythm}")
        lines += [f"M:{self.meter}", f"L:{UNIT}", f"Q:{_frac(self.beat)}={self.tempo}"]
        lines.append(f"K:{self.key}")
        return "\n".join(lines) + "\n"


def style_for(mood: str, prompt: str) -> Style:
    words = re.findall(r"[a-z]+", f"{mood} {prompt}".lower())
    style = next((MOODS[w] for w in re.findall(r"[a-z]+", mood.lower()) if w in MOODS), None)
    style = style or next((MOODS[w] for w in words if w in MOODS), DEFAULT_STYLE)
    rhythm = next((RHYTHMS[w] for w in words if w in RHYTHMS), None)
    if rhythm is not None:
        style = Style(style.key, rhythm[0], style.tempo, style.timbre, rhythm[1])
    return style


def request_for(job: Job) -> Request:
    mood = str(job.options.get("mood", ""))
    style = style_for(mood, job.prompt)
    # `%` starts an ABC comment and `\` continues a line: neither belongs in a title.
    title = " ".join(re.sub(r"[%\\]", " ", job.prompt).split())[:80] or "Untitled"
    title = title[0].upper() + title[1:]
    return Request(
        title=title,
        key=str(job.options.get("key") or style.key),
        meter=style.meter,
        tempo=int(job.options.get("tempo") or style.tempo),
        bars=int(job.options.get("length") or 16),
        timbre=style.timbre,
        rhythm=style.rhythm,
    )


def _frac(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"
