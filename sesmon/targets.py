"""Target name → the ``account_id`` and ``region`` labels its series carry."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sesmon.config import TargetConfig
from sesmon.model import TargetIdentity

UNKNOWN_ACCOUNT = "unknown"


def _guess_account(target: TargetConfig) -> str:
    # Until STS answers, the role ARN or the queue URL already names the account.
    if target.role_arn:
        return target.role_arn.split(":")[4]
    if target.sqs is not None:
        return target.sqs.account_id
    return UNKNOWN_ACCOUNT


class TargetDirectory:
    """Thread-safe lookup of each target's identity; the account id is confirmed by STS at start."""

    def __init__(self, targets: Iterable[TargetConfig]) -> None:
        self._lock = threading.Lock()
        self._ids = {t.name: TargetIdentity(t.name, _guess_account(t), t.region) for t in targets}

    def set_account_id(self, target: str, account_id: str) -> None:
        """Record the account id STS reported for ``target``."""
        with self._lock:
            old = self._ids[target]
            self._ids[target] = TargetIdentity(old.name, account_id, old.region)

    def get(self, target: str) -> TargetIdentity:
        """Identity of ``target`` (``unknown`` account for names never configured)."""
        with self._lock:
            return self._ids.get(target, TargetIdentity(target, UNKNOWN_ACCOUNT, "unknown"))

    def all(self) -> list[TargetIdentity]:
        """Every target's identity in configuration order."""
        with self._lock:
            return list(self._ids.values())
