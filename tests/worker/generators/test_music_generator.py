"""The melody generator with the bundled melody model (seeded, batched, key, metre and tempo
honoured, ABC + MIDI + WAV that independent readers accept), what it does with a model that
writes nonsense, and MusicGen built tiny from configs, loaded like a real checkpoint."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Job, Origin
from tests.worker.music.test_music_files import boundaries_of, click_score, read_midi
from worker.generators.audio_musicgen import MusicGenGenerator
from worker.generators.melody_abc import MelodyGenerator, check
from worker.generators.music_choice import music_generator
from worker.models import bundled_melody
from worker.music import notation
from worker.music.header import UNIT, request_for
from worker.music.synth import RELEASE_S


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small models generate token by token: on a busy machine a second thread only waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def job(n: int, text: str) -> Job:
    origin = Origin(platform="console", route="console:music", delivery_id=f"m-{n}")
    return build_job(parse(text), origin)


@pytest.fixture(scope="module")
def melody() -> MelodyGenerator:
    path = bundled_melody()
    assert path is not None, "the bundled melody model is missing"
    gen = MelodyGenerator(str(path), device="cpu")
    gen.load()
    return gen


def body_of(abc: str) -> str:
    return "\n".join(line for line in abc.split("\n") if line[1:2] != ":").strip()


def header_of(abc: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in abc.split("\n") if line[1:2] == ":")


def wav_samples(data: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_mood_and_options_choose_the_header() -> None:
    calm = request_for(job(1, "/melody the lake at night mood:calm"))
    assert (calm.key, calm.meter, calm.tempo, calm.bars) == ("D", "3/4", 76, 16)
    sad = request_for(job(2, "/melody rain mood:melancholy key:Dm tempo:58 length:8"))
    assert (sad.key, sad.meter, sad.tempo, sad.bars, sad.timbre) == ("Dm", "3/4", 58, 8, "reed")
    jig = request_for(job(3, "/melody a jig for the harvest"))
    assert jig.meter == "6/8" and "R:jig" in jig.header() and "Q:3/8=" in jig.header()
    odd = request_for(job(4, "/melody 100% \\ done"))
    assert "%" not in odd.header() and "\\" not in odd.header()


def test_melodies_are_seeded_batched_and_honour_key_metre_tempo(
    melody: MelodyGenerator,
) -> None:
    a = job(1, "/melody a walk by the river key:Am tempo:90 length:8 seed:11")
    b = job(2, "/melody the harvest dance mood:joyful length:4 seed:12")
    a_again = job(3, "/melody a walk by the river key:Am tempo:90 length:8 seed:11")
    fractions: list[float] = []
    batched = melody.generate([a, b, a_again], lambda f, _: fractions.append(f))
    [alone] = melody.generate([a])
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert batched[0].text == alone.text == batched[2].text  # its own seed, whatever the batch
    assert batched[0].files == alone.files
    assert batched[0].text != batched[1].text

    for out, request in ((alone, request_for(a)), (batched[1], request_for(b))):
        assert not out.error
        head = header_of(out.text)
        assert out.text.startswith(request.header())  # key, metre, unit, tempo as asked
        assert check(body_of(out.text), request) == []  # readable, every bar full, N bars
        abc, mid, wav = out.files
        assert [f.filename.rsplit(".", 1)[1] for f in out.files] == ["abc", "mid", "wav"]
        assert abc.data.decode() == out.text and wav.content_type == "audio/wav"

        tune = notation.parse(body_of(out.text), key=head["K"], meter=head["M"], unit=UNIT)
        notes = notation.events(tune)
        seconds = float(sum(n for _, n in notes) * Fraction(UNIT)) * request.whole_note_s
        rate, pcm = wav_samples(wav.data)
        assert abs(len(pcm) / rate - seconds - RELEASE_S) < 0.01  # as long as the tempo says
        assert np.abs(pcm.astype(np.int32)).max() < 32767  # never clipped
        timed = [(p, float(n * Fraction(UNIT)) * request.whole_note_s) for p, n in notes]
        assert click_score(pcm, boundaries_of(timed, rate), rate) < 1.5  # no clicks
        tempo, events = read_midi(mid.data)
        assert tempo == round(60_000_000 / (request.tempo * float(request.beat * 4)))
        assert sum(1 for _, kind, _ in events if kind == "on") == sum(len(p) for p, _ in notes)

    assert header_of(alone.text)["K"] == "Am" and header_of(alone.text)["Q"] == "1/4=90"
    assert header_of(batched[1].text)["M"] == "6/8"  # joyful: a jig

    music21 = pytest.importorskip("music21")
    score = music21.converter.parse(alone.text, format="abc")
    assert score.flatten().getElementsByClass("KeySignature")[0].sharps == 0  # A minor
    assert len(score.expandRepeats().flatten().notes) > 0
    midi = music21.converter.parseData(alone.files[1].data, format="midi")
    assert len(midi.flatten().notes) > 0


def test_nonsense_from_a_model_is_never_posted(tiny_gpt2: Path) -> None:
    """A random model writes almost no ABC: each melody is repaired, resampled or refused,
    and whatever is posted passes the check."""
    gen = MelodyGenerator(str(tiny_gpt2), device="cpu", rounds=2, attempts=2)
    gen.load()
    jobs = [job(n, f"/melody noise length:4 seed:{n}") for n in range(3)]
    for j, out in zip(jobs, gen.generate(jobs), strict=True):
        if out.error:
            assert not out.files and not out.text
        else:
            assert check(body_of(out.text), request_for(j)) == []


def test_the_last_attempt_keeps_a_mostly_unreadable_body_to_repair(
    melody: MelodyGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every body counts as mostly unreadable (the share allowed set below zero): earlier
    attempts start again, the last one's bodies are repaired and checked, not blanked."""
    import worker.generators.melody_abc as module

    monkeypatch.setattr(module, "MAX_DROPPED_SHARE", -1.0)
    monkeypatch.setattr(melody, "attempts", 2)
    jobs = [job(40 + n, f"/melody the tide length:4 seed:{40 + n}") for n in range(2)]
    outputs = melody.generate(jobs)
    assert all(body for body in melody.chosen)  # the last attempt's text, not a blank
    posted = [(j, out) for j, out in zip(jobs, outputs, strict=True) if not out.error]
    assert posted, [out.error for out in outputs]
    for j, out in posted:
        assert check(body_of(out.text), request_for(j)) == []


@pytest.fixture(scope="module")
def tiny_musicgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_music import build_tiny_musicgen

    return build_tiny_musicgen(tmp_path_factory.mktemp("models") / "tiny-musicgen")


def test_musicgen_seeds_wav_and_progress(tiny_musicgen: Path) -> None:
    gen = music_generator(str(tiny_musicgen), device="cpu")
    assert isinstance(gen, MusicGenGenerator)
    gen.load()
    jobs = [
        job(1, "/melody a calm walk length:4 tempo:200 seed:1"),
        job(2, "/melody a calm walk length:4 tempo:200 seed:2"),
        job(3, "/melody a calm walk length:4 tempo:200 seed:1"),
    ]
    fractions: list[float] = []
    outs = gen.generate(jobs, lambda f, _: fractions.append(f))
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert outs[0].files[0].data == outs[2].files[0].data  # same seed, same audio
    assert outs[0].files[0].data != outs[1].files[0].data
    rate, pcm = wav_samples(outs[0].files[0].data)
    assert rate == 32_000 and len(pcm) == round(4 * 4 * 60 / 200 * rate)  # 4 bars at 200 bpm
    assert np.abs(pcm.astype(np.int32)).max() < 32767 and np.abs(pcm).max() > 0
    assert outs[0].text == "a calm walk, 200 bpm"


def test_the_music_model_setting_picks_the_generator(tiny_gpt2: Path) -> None:
    bundled = music_generator(None, device="cpu")
    assert isinstance(bundled, MelodyGenerator) and bundled.model_id == str(bundled_melody())
    own = music_generator(str(tiny_gpt2), device="cpu")  # a language model of tunes
    assert isinstance(own, MelodyGenerator)
    assert isinstance(music_generator("facebook/musicgen-small", device="cpu"), MusicGenGenerator)
