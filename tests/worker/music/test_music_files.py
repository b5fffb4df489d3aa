"""The MIDI writer and the synthesiser, checked with numbers: MIDI read back by a tiny reader
of our own and by music21; WAV headers, lengths, peaks, DC offset and clicks."""

from __future__ import annotations

import io
import struct
import wave
from fractions import Fraction as F

import numpy as np
import pytest

from worker.music.midi import TICKS_PER_QUARTER, vlq, write_midi
from worker.music.synth import PEAK, RELEASE_S, SAMPLE_RATE, TIMBRES, render, wav_bytes

NOTES = [((60,), F(1, 4)), ((), F(1, 8)), ((64, 67), F(1, 8)), ((72,), F(1, 2))]


def read_vlq(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[at]
        at += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at


def read_midi(data: bytes) -> tuple[int, list[tuple[int, str, int]]]:
    """(microseconds a quarter, [(absolute tick, 'on'/'off', pitch)]) of a format-0 file."""
    assert data[:4] == b"MThd"
    length, fmt, tracks, division = struct.unpack(">IHHH", data[4:14])
    assert (length, fmt, tracks, division) == (6, 0, 1, TICKS_PER_QUARTER)
    assert data[14:18] == b"MTrk"
    (size,) = struct.unpack(">I", data[18:22])
    track = data[22 : 22 + size]
    assert len(track) == size
    at, tick, status, tempo, notes = 0, 0, 0, 0, []
    while at < len(track):
        delta, at = read_vlq(track, at)
        tick += delta
        if track[at] == 0xFF:
            kind, at = track[at + 1], at + 2
            length, at = read_vlq(track, at)
            if kind == 0x51:
                tempo = int.from_bytes(track[at : at + 3], "big")
            at += length
            if kind == 0x2F:
                assert at == len(track)  # end of track is the last event
            continue
        if track[at] & 0x80:
            status, at = track[at], at + 1
        if status & 0xF0 == 0xC0:
            at += 1
            continue
        pitch, velocity = track[at], track[at + 1]
        at += 2
        assert status & 0xF0 == 0x90
        notes.append((tick, "on" if velocity else "off", pitch))
    return tempo, notes


def test_variable_length_quantities() -> None:
    assert vlq(0) == b"\x00" and vlq(127) == b"\x7f" and vlq(128) == b"\x81\x00"
    assert vlq(0x0FFFFFFF) == b"\xff\xff\xff\x7f"
    assert all(read_vlq(vlq(n), 0) == (n, len(vlq(n))) for n in (0, 5, 200, 16384, 10**6))


def test_midi_reads_back_with_our_reader_and_music21() -> None:
    data = write_midi(NOTES, quarter_bpm=120, meter=(3, 4), name="Test")
    tempo, notes = read_midi(data)
    assert tempo == 500_000  # 120 quarters a minute
    q = TICKS_PER_QUARTER
    assert notes == [
        (0, "on", 60),
        (q, "off", 60),
        (q + q // 2, "on", 64),
        (q + q // 2, "on", 67),
        (2 * q, "off", 64),
        (2 * q, "off", 67),
        (2 * q, "on", 72),
        (4 * q, "off", 72),
    ]
    music21 = pytest.importorskip("music21")
    score = music21.converter.parseData(data, format="midi")
    found = [
        (float(n.offset), tuple(sorted(p.midi for p in n.pitches)), float(n.quarterLength))
        for n in score.stripTies().flatten().notes  # music21 splits notes at bar lines
    ]
    assert found == [(0.0, (60,), 1.0), (1.5, (64, 67), 0.5), (2.0, (72,), 2.0)]


def _wav(data: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def click_score(samples: np.ndarray, boundaries: list[int], rate: int) -> float:
    """How much the sample-to-sample jump at a note boundary exceeds the signal's own slope
    around it (the 20 ms either side): about 1 or less when the boundary is smooth, several
    times that for a click (a step the tone itself never makes)."""
    jumps = np.abs(np.diff(samples.astype(np.float64)))
    around = int(0.02 * rate)
    worst = 0.0
    for b in boundaries:
        at = jumps[max(b - 2, 0) : b + 3].max()
        near = np.concatenate(
            [jumps[max(b - around, 0) : max(b - 3, 0)], jumps[b + 4 : b + around]]
        )
        worst = max(worst, float(at / max(near.max(), 1.0)))
    return worst


def boundaries_of(seconds: list[tuple[tuple[int, ...], float]], rate: int) -> list[int]:
    times = np.cumsum([0.0, *(s for _, s in seconds)])
    return sorted({round(t * rate) for t in times})


@pytest.mark.parametrize("timbre", TIMBRES)
def test_wav_is_clean_and_as_long_as_its_notes(timbre: str) -> None:
    seconds = [(p, float(n) * 2.0) for p, n in NOTES]  # a whole note is 2 s
    rate, pcm = _wav(wav_bytes(render(seconds, timbre=timbre, seed=1)))
    assert rate == SAMPLE_RATE
    assert len(pcm) == round(2.0 * rate) + int(RELEASE_S * rate) + 1  # notes, then the release
    peak = int(np.abs(pcm.astype(np.int32)).max())
    assert 0.7 * 32767 < peak <= PEAK * 32767 + 1  # loud enough, never clipped
    assert abs(float(pcm.mean())) < 0.002 * 32767  # no DC offset
    assert pcm[0] == 0 and abs(int(pcm[-1])) < 50  # starts and ends in silence
    assert click_score(pcm, boundaries_of(seconds, rate), rate) < 1.5  # no clicks
    assert np.abs(np.diff(pcm.astype(np.int32))).max() < 0.5 * 32768  # no step anywhere
    silence = pcm[int(0.57 * rate) : int(0.74 * rate)]  # inside the rest, after a release
    assert np.abs(silence.astype(np.int32)).max() < 0.01 * 32767


def test_wav_is_deterministic_and_the_click_check_can_fail() -> None:
    seconds = [((69,), 0.25), ((72,), 0.25)]
    assert wav_bytes(render(seconds, timbre="pluck", seed=3)) == wav_bytes(
        render(seconds, timbre="pluck", seed=3)
    )
    # A gated sine, switched on and off with no envelope, clicks: the check sees it.
    t = np.arange(int(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
    gated = np.concatenate([np.zeros(1000), 0.8 * np.cos(2 * np.pi * 440 * t), np.zeros(1000)])
    _, pcm = _wav(wav_bytes(gated))
    assert click_score(pcm, [1000, 1000 + len(t)], SAMPLE_RATE) > 3
