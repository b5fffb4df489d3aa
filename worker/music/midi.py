"""A Standard MIDI File writer (format 0: one track), enough for a melody.

A file is a header chunk (`MThd`: format, track count, ticks per quarter note) and one track
chunk (`MTrk`) of events, each preceded by its delta time since the previous one as a
variable-length number (7 bits a byte, the high bit set on all but the last). We write the
tempo and time signature as meta events, a program change for the instrument, then note on /
note off pairs with running status (the status byte is omitted while it repeats).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction

TICKS_PER_QUARTER = 480


def vlq(value: int) -> bytes:
    """A variable-length quantity: 0 -> 00, 128 -> 81 00, 0x0FFFFFFF -> FF FF FF 7F."""
    if value < 0:
        raise ValueError("delta times are never negative")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def write_midi(
    notes: Sequence[tuple[tuple[int, ...], Fraction]],  # (pitches, () = rest; whole notes)
    *,
    quarter_bpm: float,
    meter: tuple[int, int] = (4, 4),
    program: int = 0,
    velocity: int = 90,
    name: str = "",
) -> bytes:
    """The notes (lengths in whole notes) as a format-0 MIDI file at `quarter_bpm`."""
    track = bytearray()
    if name:
        title = name.encode("utf-8")[:120]
        track += b"\x00\xff\x03" + vlq(len(title)) + title
    micros = round(60_000_000 / quarter_bpm)
    track += b"\x00\xff\x51\x03" + micros.to_bytes(3, "big")
    num, den = meter
    track += b"\x00\xff\x58\x04" + bytes([num, max(den.bit_length() - 1, 0), 24, 8])
    track += b"\x00" + bytes([0xC0, program & 0x7F])
    status = 0
    delta = 0
    for pitches, length in notes:
        ticks = round(length * 4 * TICKS_PER_QUARTER)
        if not pitches:
            delta += ticks
            continue
        for k, pitch in enumerate(pitches):  # note on: 0x90 (running status after the first)
            track += vlq(delta if k == 0 else 0)
            if status != 0x90:
                track.append(0x90)
                status = 0x90
            track += bytes([pitch & 0x7F, velocity & 0x7F])
            delta = 0
        for k, pitch in enumerate(pitches):  # note off as note on with velocity 0
            track += vlq(ticks if k == 0 else 0) + bytes([pitch & 0x7F, 0])
    track += vlq(delta) + b"\xff\x2f\x00"  # end of track (after any final rest)
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)
