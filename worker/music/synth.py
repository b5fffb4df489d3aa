"""A small synthesiser in numpy: a melody to 16-bit mono WAV.

Three timbres, all built from a fundamental and a few harmonics or a plucked delay line:
- `soft`: sine plus gently falling harmonics (a flute-like, rounded tone);
- `pluck`: Karplus-Strong, a noise burst fed through a delay line whose averaging filter
  softens it each pass, like a plucked string (seeded, so a piece always sounds the same);
- `reed`: odd harmonics strongest (a clarinet-like tone) with a slow vibrato.
Each note gets an ADSR envelope whose attack and release are a few milliseconds at least, so
no note starts or stops with a jump; notes are mixed into one buffer (a release may ring into
the next note), then the whole is faded in and out, the DC offset removed and the peak
normalised below full scale.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence

import numpy as np

SAMPLE_RATE = 22_050
TIMBRES = ("soft", "pluck", "reed")
PEAK = 0.8  # of full scale: headroom, never a clipped sample
RELEASE_S = 0.06


def frequency(pitch: int) -> float:
    return float(440.0 * 2.0 ** ((pitch - 69) / 12))


def _envelope(
    samples: int, rate: int, *, attack: float, decay: float, sustain: float
) -> np.ndarray:
    """Attack to 1, decay to `sustain` over the held part, then a release to 0 after it."""
    release = int(RELEASE_S * rate)
    total = samples + release
    env = np.full(total, sustain, dtype=np.float64)
    a = max(1, min(int(attack * rate), samples))
    d = max(1, min(int(decay * rate), samples - a)) if samples > a else 0
    env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, a, endpoint=False))
    if d:
        env[a : a + d] = 1.0 - (1.0 - sustain) * np.linspace(0.0, 1.0, d, endpoint=False)
    level = env[samples - 1] if samples else 0.0
    env[samples:] = level * (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, release)))
    return env


def _tone(pitch: int, samples: int, rate: int, timbre: str, rng: np.random.Generator) -> np.ndarray:
    f = frequency(pitch)
    total = samples + int(RELEASE_S * rate)
    t = np.arange(total) / rate
    if timbre == "pluck":
        period = max(2, round(rate / f))
        line = rng.uniform(-1.0, 1.0, period)
        for _ in range(6):  # a softer pluck: the excitation low-passed (circular 1-2-1 filter)
            line = 0.25 * np.roll(line, 1) + 0.5 * line + 0.25 * np.roll(line, -1)
        line -= line.mean()
        line /= max(float(np.abs(line).max()), 1e-9)
        out = np.empty(total)
        for start in range(0, total, period):  # each pass: average neighbours, lose a little
            chunk = min(period, total - start)
            out[start : start + chunk] = line[:chunk]
            line = 0.996 * 0.5 * (line + np.roll(line, -1))
        env = _envelope(samples, rate, attack=0.004, decay=0.4, sustain=0.5)
        return np.asarray(out * env, dtype=np.float64)
    if timbre == "reed":
        vibrato = 1.0 + 0.004 * np.sin(2 * np.pi * 5.0 * t) * np.clip(t / 0.3, 0.0, 1.0)
        phase = 2 * np.pi * f * np.cumsum(vibrato) / rate
        parts = [(k, 1 / k) for k in (1, 3, 5, 7)] + [(2, 0.2)]
        wave_ = _partials(phase, f, rate, parts)
        env = _envelope(samples, rate, attack=0.03, decay=0.1, sustain=0.8)
        return np.asarray(wave_ * env * 0.7, dtype=np.float64)
    phase = 2 * np.pi * f * t  # soft
    wave_ = _partials(phase, f, rate, [(1, 1.0), (2, 0.3), (3, 0.12)])
    env = _envelope(samples, rate, attack=0.02, decay=0.25, sustain=0.7)
    return np.asarray(wave_ * env * 0.8, dtype=np.float64)


def _partials(
    phase: np.ndarray, f: float, rate: int, parts: Sequence[tuple[int, float]]
) -> np.ndarray:
    """A sum of harmonics (number, amplitude), leaving out any near or above half the
    sampling rate: those would alias into harsh, unrelated tones."""
    out = np.zeros_like(phase)
    for k, amplitude in parts:
        if k == 1 or k * f < 0.4 * rate:
            out += amplitude * np.sin(k * phase)
    return out


def render(
    notes: Sequence[tuple[tuple[int, ...], float]],  # (MIDI pitches, () = rest; seconds)
    *,
    timbre: str = "soft",
    rate: int = SAMPLE_RATE,
    seed: int = 0,
) -> np.ndarray:
    """The melody as float samples in [-PEAK, PEAK], exactly as long as its notes plus a
    short tail for the last release."""
    if timbre not in TIMBRES:
        raise ValueError(f"unknown timbre {timbre!r}; choose from {', '.join(TIMBRES)}")
    rng = np.random.default_rng(seed)
    starts = np.cumsum([0.0, *(s for _, s in notes)])
    length = round(starts[-1] * rate) + int(RELEASE_S * rate) + 1
    out = np.zeros(length)
    for (pitches, seconds), start in zip(notes, starts[:-1], strict=True):
        begin, samples = round(start * rate), round(seconds * rate)
        for pitch in pitches:
            tone = _tone(pitch, samples, rate, timbre, rng) / max(1, len(pitches)) ** 0.5
            out[begin : begin + len(tone)] += tone[: length - begin]
    out -= out.mean()
    fade = min(len(out) // 2, int(0.01 * rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    peak = float(np.abs(out).max())
    return out * (PEAK / peak) if peak > 0 else out


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM mono WAV."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()
