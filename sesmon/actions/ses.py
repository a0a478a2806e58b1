"""The SES v2 calls behind actions: pause or resume a configuration set's sending, or the account's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sesmon.actions.policy import PAUSE_ACCOUNT, PAUSE_SET, RESUME_SET

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


class SesActuator:
    """Flips SES sending flags through each target's own SES v2 client (retries are botocore's)."""

    def __init__(self, clients: Mapping[str, Callable[[], SESV2Client]]) -> None:
        self._clients = clients

    def _client(self, target: str) -> SESV2Client:
        factory = self._clients.get(target)
        if factory is None:
            raise KeyError(f"target {target} is not configured")
        return factory()

    def apply(self, action: str, target: str, configuration_set: str) -> None:
        """Make the call ``action`` stands for; raise on failure. Each call is idempotent."""
        client = self._client(target)
        if action == PAUSE_SET:
            client.put_configuration_set_sending_options(
                ConfigurationSetName=configuration_set, SendingEnabled=False
            )
        elif action == RESUME_SET:
            client.put_configuration_set_sending_options(
                ConfigurationSetName=configuration_set, SendingEnabled=True
            )
        elif action == PAUSE_ACCOUNT:
            client.put_account_sending_attributes(SendingEnabled=False)
        else:
            raise ValueError(f"unknown action {action}")
