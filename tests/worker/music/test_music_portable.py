"""What every ABC tool accepts: hand-written tunes with the three faults abc2midi and abc2abc
complain about, flagged by our checker and repaired so that it finds nothing left."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from worker.generators.melody_abc import check
from worker.music import notation, portable
from worker.music.header import Request


def read(body: str, meter: str = "C") -> notation.Tune:
    return notation.parse(body, key="G", meter=meter, unit="1/8")


@pytest.mark.parametrize(
    ("body", "meter", "fault"),
    [
        ("GABc d2e2 | A>d2 B2 c2 d |]", "C", "broken rhythm"),
        ("GABc d2e2 | G>D/4 B2 c2 d2z3/8 |]", "C", "broken rhythm"),
        ("GABc d2e2 | A A>B c2 d2z |]", "C", "off the beat"),
        ("GABc d2e2 | A2 z/6 B2 c2 dz/3 |]", "C", "power of two"),
        ("GABc d2e2 | (3A2B2C z/2 z/6 B2 c2 |]", "C", "tuplet"),
        ("|: G2 | E2A2A2 | c2A2B2 | c2A2A2 :| g2e2e2 |]", "3/4", "pickup"),
    ],
)
def test_each_fault_is_flagged_and_repaired(body: str, meter: str, fault: str) -> None:
    tune = read(body, meter)
    found = portable.faults(tune)
    assert any(fault in f for f in found), found
    request = Request(
        title="t", key="G", meter=meter, tempo=100, bars=4, timbre="soft", rhythm="reel"
    )
    assert any(fault in p for p in check(body, request))
    fixed = notation.write(portable.repair(tune))
    assert portable.faults(read(fixed, meter)) == [], fixed
    assert notation.repair(read(fixed, meter)).bars == read(fixed, meter).bars


def test_repairs_keep_the_sound_where_they_can() -> None:
    fixed = portable.repair(read("GABc d2e2 | A>d2 B2 c2 d |]"))
    assert notation.write(fixed).startswith("GABc d2e2 | A3/d B2 c2")  # written out, same time
    assert notation.events(fixed)[6:8] == [((69,), F(3, 2)), ((74,), F(1))]
    repeat = notation.write(portable.repair(read("|: G2 | E2A2A2 | c2A2B2 :| g2e2e2 |]", "3/4")))
    assert repeat.startswith("G2 |: E2A2A2 | c2A2B2 :|")  # the pickup sounds once
    clean = "D | G>A B>c d2 G2 | (3ABc d2 e2 d2 |]"
    assert portable.faults(read(clean)) == []
    assert notation.write(portable.repair(read(clean))) == notation.write(
        notation.repair(read(clean))
    )
