"""The optional moderation classifier (`ATELIER_MODERATION_CLASSIFIER`), run in the worker.

It names either a local transformers text-classification model directory (loaded with
`pipeline("text-classification")`) or an import path `module:function`, a function taking a
text and returning `(flagged, reason)`. The worker checks each prompt before generating and
each text result after: a flagged job ends with a clear error for the user and is never
retried. The front desk (`bot/`) cannot run it: `bot/` never imports torch.

A model flags a text when any label in `ATELIER_MODERATION_LABELS` scores at least
`ATELIER_MODERATION_THRESHOLD`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from bot.desk.moderation import CLASSIFIER, Flag
from bot.errors import ConfigError

log = logging.getLogger(__name__)
DEFAULT_LABELS = ("toxic", "nsfw", "unsafe", "offensive", "hate")
MAX_CHARS = 2000  # a classifier reads the start of a long piece; most see 512 tokens at most


class TextClassifier(Protocol):
    name: str

    def load(self) -> None: ...

    def __call__(self, texts: Sequence[str]) -> list[Flag | None]: ...


class ModelClassifier:
    """A transformers sequence-classification model in a local directory."""

    def __init__(
        self,
        path: str,
        *,
        labels: Sequence[str] = DEFAULT_LABELS,
        threshold: float = 0.5,
        device: str = "cpu",
    ) -> None:
        self.path = path
        self.name = Path(path).name or path
        self.labels = frozenset(label.strip().lower() for label in labels if label.strip())
        self.threshold = threshold
        self.device = device
        self.pipe: Any = None

    def load(self) -> None:
        from transformers import pipeline

        from worker.device import resolve_device

        device, _ = resolve_device(self.device)
        self.pipe = pipeline("text-classification", model=self.path, device=device, top_k=None)
        known = {str(v).lower() for v in self.pipe.model.config.id2label.values()}
        if not self.labels & known:
            raise ConfigError(
                f"The moderation classifier {self.name!r} has the labels {sorted(known)}; set "
                "ATELIER_MODERATION_LABELS to the ones that mean a text must be stopped."
            )

    def __call__(self, texts: Sequence[str]) -> list[Flag | None]:
        if not texts:
            return []
        scored = self.pipe([t[:MAX_CHARS] for t in texts], truncation=True)
        flags: list[Flag | None] = []
        for scores in scored:
            hits = [s for s in scores if self._stops(s["label"], s["score"])]
            if not hits:
                flags.append(None)
                continue
            top = max(hits, key=lambda s: s["score"])
            flags.append(
                Flag(CLASSIFIER, category=top["label"], detail=f"{top['label']} {top['score']:.2f}")
            )
        return flags

    def _stops(self, label: str, score: float) -> bool:
        return label.lower() in self.labels and score >= self.threshold


class HookClassifier:
    """An import path `module:function`; the function gets one text and returns
    `(flagged, reason)`."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.name = spec
        self.fn: Callable[[str], tuple[bool, str]] | None = None

    def load(self) -> None:
        module_name, _, attr = self.spec.partition(":")
        try:
            self.fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"ATELIER_MODERATION_CLASSIFIER={self.spec!r}: cannot import it ({exc})."
            ) from exc

    def __call__(self, texts: Sequence[str]) -> list[Flag | None]:
        assert self.fn is not None, "load() first"
        flags: list[Flag | None] = []
        for text in texts:
            flagged, reason = self.fn(text[:MAX_CHARS])
            flags.append(Flag(CLASSIFIER, category="hook", detail=reason) if flagged else None)
        return flags


def classifier_from(
    spec: str | None,
    *,
    labels: Sequence[str] = DEFAULT_LABELS,
    threshold: float = 0.5,
    device: str = "cpu",
) -> TextClassifier | None:
    """The classifier a setting names: a directory is a model, `module:function` a hook."""
    if not spec:
        return None
    if Path(spec).expanduser().is_dir():
        path = str(Path(spec).expanduser())
        return ModelClassifier(path, labels=labels, threshold=threshold, device=device)
    if ":" in spec:
        return HookClassifier(spec)
    raise ConfigError(
        f"ATELIER_MODERATION_CLASSIFIER={spec!r} is neither a model directory nor an import "
        "path such as mypackage.moderation:check."
    )
