"""``sesmon resume``: re-enable a configuration set's sending and re-arm its actions, as the operator says.

Resuming is always a person's decision, never automatic. The command makes the SES call, then
writes a resume record into the state the daemon uses, through the same port as the alert state
(the daemon may be running: SQLite takes the write between two of its transactions), which clears
the set's cooldown. An alert still firing
does not pause the set again: actions run only when an alert fires anew, after its rate has
recovered.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from sesmon import redact
from sesmon.actions.policy import RESUME_SET, paused, records_from
from sesmon.actions.runner import NAMESPACE, Actuator, resume_record
from sesmon.config import Config
from sesmon.state.factory import open_state

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def resume(
    config: Config,
    configuration_set: str,
    target: str | None,
    actuator: Actuator,
    *,
    clock: Callable[[], float] = time.time,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Resume ``configuration_set`` on ``target`` (the only target when None); return the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    names = [t.name for t in config.targets]
    if target is None:
        if len(names) > 1:
            print(f"sesmon resume: --target is required: one of {', '.join(names)}", file=err)
            return EXIT_USAGE
        target = names[0]
    if target not in names:
        print(f"sesmon resume: unknown target {target!r}: one of {', '.join(names)}", file=err)
        return EXIT_USAGE
    try:
        actuator.apply(RESUME_SET, target, configuration_set)
    except Exception as exc:  # noqa: BLE001 - one line for the operator, never a traceback
        from sesmon.aws_errors import POLICY_COMMAND, one_line  # noqa: PLC0415 - botocore only on failure

        print(f"sesmon resume: {redact.redact(one_line(exc, POLICY_COMMAND))}", file=err)
        return EXIT_RUNTIME
    now = clock()
    store = open_state(config.state)
    try:
        was_paused = any(
            r.target == target and r.configuration_set == configuration_set
            for r in paused(records_from(store.kv_items(NAMESPACE)))
        )
        record = resume_record(target, configuration_set, now)
        store.alert_commit(NAMESPACE, record.id, record.to_dict(), [], now=now)
    finally:
        store.close()
    note = "" if was_paused else " (sesmon had not paused it)"
    print(f"resumed sending of configuration set {configuration_set} on target {target}{note}", file=out)
    return EXIT_OK


def resume_command(config: Config, configuration_set: str, target: str | None) -> int:
    """``sesmon resume``: the SES calls through each target's own clients."""
    from sesmon.actions.ses import SesActuator  # noqa: PLC0415 - boto3 only for this command
    from sesmon.sources.aws import ApiCallCounter, AwsClients  # noqa: PLC0415

    clients = {t.name: AwsClients(t, ApiCallCounter()).lazy("sesv2") for t in config.targets}
    return resume(config, configuration_set, target, SesActuator(clients))
