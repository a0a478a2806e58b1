"""The config file every benchmark gives ``sesmon run``: one target on a local endpoint, else as shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_daemon_config(
    path: Path,
    endpoint: str,
    queue_url: str,
    *,
    state: dict[str, Any],
    sqs: dict[str, Any] | None = None,
    target: dict[str, Any] | None = None,
    listen: str = "127.0.0.1:0",
    **sections: Any,
) -> Path:
    """Write the daemon's config to ``path`` and return it.

    AWS polling is off (the local endpoints speak SQS only); ``sqs`` adds to the target's queue
    settings, ``target`` to the target itself, ``sections`` are further top-level sections (alerts …).
    Everything else is the shipped default, so the daemon runs its real code paths.
    """
    doc: dict[str, Any] = {
        "targets": [
            {
                "name": "bench",
                "region": "us-east-1",
                "endpoint_url": endpoint,
                "sqs": {"queue_url": queue_url, "on_invalid": "delete", **(sqs or {})},
                "cloudwatch": {"enabled": False},
                "account": {"enabled": False},
                "identities": {"enabled": False},
                **(target or {}),
            }
        ],
        "dns": {"enabled": False},
        "state": state,
        "server": {"listen": listen},
        "logging": {"level": "warning"},
        **sections,
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path
