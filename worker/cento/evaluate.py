"""Measure the cento poet: seeded requests per form, how many meet the form (by our checker and
by a second ear, espeak-ng, where installed), have every word in the CMU dictionary, and carry
a topic word (or its family).

    python -m worker.cento.evaluate --rows 300000 --requests 100
"""

from __future__ import annotations

import argparse
import time

import pronouncing

from bot.commands.poetic_forms import check
from worker.cento.compose import Composer
from worker.cento.index import content_stems, load_index, words
from worker.training import second_ear

TOPICS = (
    "the sea", "love", "winter night", "the moon", "war",
    "a garden", "death", "the river", "morning light", "home",
)  # fmt: skip
FORMS = ("haiku", "limerick", "sonnet", "free")


def measure(composer: Composer, form: str, requests: int) -> dict[str, float]:
    met = ear_met = in_dict = on_topic = 0
    ear = second_ear.available()
    start = time.perf_counter()
    for seed in range(requests):
        topic = TOPICS[seed % len(TOPICS)]
        text = composer.compose(form, topic, seed=seed).text
        met += form == "free" or check(form, text).ok
        ear_met += form == "free" or (ear and bool(second_ear.meets(form, text)))
        in_dict += all(pronouncing.phones_for_word(w) for w in words(text))
        on_topic += bool(set(content_stems(topic)) & set(content_stems(text)))
    seconds = (time.perf_counter() - start) / requests
    return {
        "met": 100 * met / requests,
        "ear": 100 * ear_met / requests if ear else float("nan"),
        "dictionary": 100 * in_dict / requests,
        "topic": 100 * on_topic / requests,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300_000, help="corpus rows to index (0: all)")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--samples", type=int, default=0, help="print this many sample poems")
    args = parser.parse_args()
    start = time.perf_counter()
    index = load_index(args.rows or None)
    composer = Composer(index)
    print(f"index: {len(index.lines)} lines from {args.rows or 'all'} rows, "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    print("| form | met % (ours) | met % (espeak-ng) | dictionary % | topic % | s per poem |")
    print("| --- | --- | --- | --- | --- | --- |")
    for form in FORMS:
        m = measure(composer, form, args.requests)
        print(f"| {form} | {m['met']:.0f} | {m['ear']:.0f} | {m['dictionary']:.0f} "
              f"| {m['topic']:.0f} | {m['seconds']:.2f} |")  # fmt: skip
    for k in range(args.samples):
        form, topic = FORMS[k % len(FORMS)], TOPICS[k % len(TOPICS)]
        cento = composer.compose(form, topic, seed=1000 + k)
        print(f"\n{form}, topic '{topic}', seed {1000 + k}:\n{cento.text}\n({cento.sources})")


if __name__ == "__main__":
    main()
