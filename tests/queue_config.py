"""The config of a daemon whose only source is one SQS queue (no AWS polling), as tests write it."""

from __future__ import annotations

from pathlib import Path


def queue_only_config(
    endpoint_url: str,
    queue_url: str,
    state: Path | str,
    *,
    receivers: int = 2,
    state_extra: str = "",
    extra: str = "",
) -> str:
    """YAML for one target ``prod`` on ``endpoint_url`` reading ``queue_url``, state at ``state``,
    a free loopback port; ``state_extra`` adds lines to ``state:`` (indented), ``extra`` adds
    top-level sections (alerts, logging …)."""
    return f"""
targets:
  - name: prod
    region: us-east-1
    endpoint_url: {endpoint_url}
    sqs:
      queue_url: {queue_url}
      receivers: {receivers}
      wait_time_seconds: 1
      visibility_timeout_seconds: 10
      on_invalid: delete
    cloudwatch: {{enabled: false}}
    account: {{enabled: false}}
    identities: {{enabled: false}}
state:
  path: {state}
{state_extra}
server:
  listen: 127.0.0.1:0
{extra}
"""
