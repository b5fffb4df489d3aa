"""Sample poems from the cento poet as the worker runs it (the bundled poet judging flow), for
docs/forms.md. The figures come from `atelier eval cento` (`worker.training.form_eval`).

    python -m worker.cento.evaluate --samples 10
"""

from __future__ import annotations

import argparse

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Origin
from worker.generators.text_cento import CentoGenerator
from worker.generators.text_lm import TextGenerator
from worker.models import bundled_poet

TOPICS = (
    "the sea", "love", "winter night", "the moon", "war",
    "a garden", "death", "the river", "morning light", "home",
)  # fmt: skip
FORMS = ("haiku", "limerick", "sonnet", "free")


def cento_poet() -> CentoGenerator:
    poet = bundled_poet()
    gen = CentoGenerator(TextGenerator(str(poet), device="cpu") if poet else None)
    gen.load()
    return gen


def samples(gen: CentoGenerator, count: int) -> list[str]:
    """`count` poems (forms and topics in turn, seeds from 1000), each with its credits."""
    made = []
    for k in range(count):
        form, topic = FORMS[k % len(FORMS)], TOPICS[k % len(TOPICS)]
        request = f"/poem {topic} form:{form} seed:{1000 + k}"
        job = build_job(parse(request), Origin(platform="eval", route="eval", delivery_id=str(k)))
        out = gen.generate([job])[0]
        credit = out.note.splitlines()[-1]
        made.append(f"`{request}`\n\n{out.text}\n\n({credit})")
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10, help="how many sample poems")
    args = parser.parse_args()
    print("\n\n".join(samples(cento_poet(), args.samples)))


if __name__ == "__main__":
    main()
