"""The continuous batcher's KV cache layer writes each step's token in place (no copy of the
whole cache per step) and still holds exactly what transformers' own layer would."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from transformers.cache_utils import DynamicLayer

from worker.decoding.kv_room import ROOM, RoomyLayer, reserve


def _plain() -> DynamicLayer:
    """transformers' own layer (its constructor is untyped)."""
    return DynamicLayer()  # type: ignore[no-untyped-call]


def test_steps_write_in_place_until_the_room_runs_out_and_match_the_plain_layer() -> None:
    gen = torch.Generator().manual_seed(3)
    plain, roomy = _plain(), RoomyLayer()
    prompt = torch.randn(3, 2, 5, 4, generator=gen)
    plain.update(prompt, prompt * 2)
    roomy.update(prompt, prompt * 2)
    buffers = set()
    for _ in range(ROOM + 3):
        token = torch.randn(3, 2, 1, 4, generator=gen)
        keys, values = roomy.update(token, -token)
        want_keys, want_values = plain.update(token, -token)
        assert torch.equal(keys, want_keys) and torch.equal(values, want_values)
        buffers.add(keys.data_ptr())
    # One buffer for the first ROOM + 1 steps (made at the first), a second after that.
    assert len(buffers) == 2


def test_keys_replaced_by_the_scheduler_are_copied_into_a_fresh_buffer() -> None:
    roomy = RoomyLayer.like(_plain())
    start = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).view(2, 1, 3, 2)
    roomy.update(start, start)
    roomy.update(torch.ones(2, 1, 1, 2), torch.ones(2, 1, 1, 2))
    # The scheduler cuts a finished row out (as `ContinuousBatcher._retire` does).
    assert roomy.keys is not None
    roomy.keys = roomy.keys[torch.tensor([1])]
    assert roomy.values is not None
    roomy.values = roomy.values[torch.tensor([1])]
    keys, _ = roomy.update(torch.full((1, 1, 1, 2), 7.0), torch.full((1, 1, 1, 2), 7.0))
    assert keys.shape == (1, 1, 5, 2)
    assert torch.equal(keys[0, 0, :3], start[1, 0])
    assert torch.equal(keys[0, 0, 3], torch.ones(2)) and torch.equal(
        keys[0, 0, 4], torch.full((2,), 7.0)
    )


def test_reserved_room_keeps_one_buffer_for_the_whole_answer() -> None:
    gen = torch.Generator().manual_seed(4)
    plain, roomy = _plain(), RoomyLayer()
    prompt = torch.randn(2, 2, 3, 4, generator=gen)
    plain.update(prompt, prompt)
    roomy.update(prompt, prompt)
    cache = SimpleNamespace(layers=[roomy, plain])
    reserve(cache, 3 * ROOM)  # the plain layer is left as it is
    buffers = set()
    for _ in range(3 * ROOM):
        token = torch.randn(2, 2, 1, 4, generator=gen)
        keys, _ = roomy.update(token, token)
        assert torch.equal(keys, plain.update(token, token)[0])
        buffers.add(keys.data_ptr())
    assert len(buffers) == 1
    reserve(cache, 1)
    assert roomy.room == ROOM  # never less than the default
