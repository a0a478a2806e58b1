"""Which alert rules watch a rate, and at what levels: for colouring the status page by them (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from sesmon.config import RuleConfig
from sesmon.rules import matches_scope
from sesmon.signals import Observation
from sesmon.status import Levels


def levels_for(
    rules: Sequence[RuleConfig], signal: str, window: str | None, target: str, configuration_set: str | None
) -> Levels | None:
    """The lowest warning and critical thresholds of the rules on ``signal`` (over ``window``, or any
    window when None) whose scope takes this target and set (None: an account-level rate); None when
    no rule watches it."""
    labels = (
        Observation.make_labels(target=target)
        if configuration_set is None
        else Observation.make_labels(target=target, configuration_set=configuration_set)
    )
    found = [
        r
        for r in rules
        if r.signal == signal and (window is None or r.window == window) and matches_scope(r, labels)
    ]
    if not found:
        return None
    warnings = [r.warning for r in found if r.warning is not None]
    criticals = [r.critical for r in found if r.critical is not None]
    return Levels(
        min(warnings) if warnings else None,
        min(criticals) if criticals else None,
        tuple(sorted({r.name for r in found})),
    )
