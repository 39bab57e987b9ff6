"""Decision logs (the shared JSON-lines contract) for traces the model checker explores.

The core already emits every decision as a :class:`gungnir.core.Log` action; replaying a
path of transition labels through the model with recording on collects exactly the lines a
runtime would write.  ``random_walk`` picks paths for tests of the trace checker.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from gungnir.core import Log, Notify
from gungnir.verify.world import Model


def decision_log(model: Model, labels: list[tuple[Any, ...]]) -> list[str]:
    """JSON lines of every decision taken along ``labels`` (from the initial world)."""
    record: list[Log | Notify] = []
    m = dataclasses.replace(model, record=record)  # the same model (subclass, prefix)
    w = m.initial()
    for label in labels:
        w = m.apply(w, label)
    return [a.to_json() for a in record if isinstance(a, Log)]


def random_walk(model: Model, steps: int, seed: int) -> list[tuple[Any, ...]]:
    """A pseudo-random path of at most ``steps`` transitions (deterministic per seed),
    biased towards message delivery and rounds so that elections complete."""
    rng = random.Random(seed)
    w = model.initial()
    labels: list[tuple[Any, ...]] = []
    for _ in range(steps):
        options = list(model.successors(w))
        if not options:
            break
        busy = [o for o in options if o[0][0] in ("deliver", "round", "advance")]
        label, w = rng.choice(busy if busy and rng.random() < 0.8 else options)
        labels.append(label)
    return labels
