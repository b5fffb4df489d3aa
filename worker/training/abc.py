"""Folk tunes in ABC notation, for the melody model: the public-domain collections inside the
`music21` package, or a community's own `.abc` files.

music21's corpus ships O'Neill's Music of Ireland (1850), Ryan's Mammoth Collection (1883) and
Aird's Selection of Airs (1782-1803), all public domain, and the Essen folk song collection,
whose licence allows use only inside music21: it is never read. The files are found through
the package's location without importing music21 (a slow import we do not need).

Each tune keeps the header fields a melody needs (title, rhythm, metre, unit length, tempo,
key) and its body; sources, transcribers' notes and e-mail addresses are dropped, comments
removed, whitespace normalised, duplicates (same body) dropped. Splits deal whole tunes.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

MUSIC21_FOLK = "music21-folk"
COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs")  # never essenFolksong: licence
ABC_VERSION = 1  # bump whenever tune cleaning changes: it is part of the cache key
HEADER_ORDER = ("T", "R", "M", "L", "Q", "K")
_FIELD = re.compile(r"^([A-Za-z]):\s*(.*)$")
_NOTE = re.compile(r"[A-Ga-g]")


def music21_files() -> list[Path]:
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The folk-tune corpus ships inside the 'music21' package: "
            "pip install 'atelier[music]' (or pip install music21)."
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "corpus"
    return [f for name in COLLECTIONS for f in sorted((root / name).glob("*.abc"))]


def split_tunes(text: str) -> list[str]:
    """The raw tunes of an ABC file: each from its `X:` line to the next one."""
    tunes: list[list[str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.startswith("X:"):
            tunes.append([line])
        elif tunes:
            tunes[-1].append(line)
    return ["\n".join(t) for t in tunes]


def clean_tune(raw: str) -> str | None:
    """A tune with its useful header and body, or None when it is not a usable melody."""
    header: dict[str, str] = {}
    body: list[str] = []
    in_body = False
    for line in raw.split("\n"):
        line = line.split("%", 1)[0].rstrip()  # ABC comments
        if not line.strip():
            if in_body:
                break  # a blank line ends the tune
            continue
        field = _FIELD.match(line)
        if field and not in_body:
            key, value = field.group(1).upper(), " ".join(field.group(2).split())
            if key in HEADER_ORDER and key not in header and value:
                header[key] = value
            if key == "K":
                in_body = True
            continue
        if field and field.group(1) in "wWN":  # lyrics and notes inside the body
            continue
        if in_body:
            body.append(" ".join(line.split()))
    music = "\n".join(body)
    if "M" not in header or "K" not in header or "|" not in music or not _NOTE.search(music):
        return None
    lines = ["X:1", *(f"{k}:{header[k]}" for k in HEADER_ORDER if k in header), music]
    return "\n".join(lines)


def load_abc_tunes(source: str | Path) -> list[str]:
    """Clean, deduplicated tunes of `music21-folk`, an .abc file, or a folder of them."""
    files = abc_files(str(source))
    if not files:
        raise ValueError(f"no .abc files at {source}")
    tunes: list[str] = []
    seen: set[str] = set()
    for file in files:
        for raw in split_tunes(file.read_text(encoding="utf-8", errors="replace")):
            tune = clean_tune(raw)
            if tune is None:
                continue
            body = tune_body(tune)
            if body in seen:
                continue
            seen.add(body)
            tunes.append(tune)
    return tunes


def tune_body(tune: str) -> str:
    """The music of a cleaned tune: everything after its K: line."""
    lines = tune.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("K:"))
    return "\n".join(lines[at + 1 :])


def abc_files(source: str) -> list[Path]:
    """The files an ABC source reads (for cache keys)."""
    if source == MUSIC21_FOLK:
        return music21_files()
    root = Path(source)
    return [root] if root.is_file() else sorted(root.rglob("*.abc"))


def is_abc_source(source: str) -> bool:
    if source == MUSIC21_FOLK:
        return True
    path = Path(source)
    if path.is_file():
        return path.suffix == ".abc"
    return path.is_dir() and any(path.rglob("*.abc"))
