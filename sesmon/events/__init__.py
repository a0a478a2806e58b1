"""SQS body → envelope (SNS | EventBridge | raw) → ``SesEvent`` or a typed ``Rejection`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sesmon.model import PROVIDERS_OTHER, Outcome, Rejection, SesEvent

__all__ = [
    "CONTROL_REASONS",
    "INVALID_REASONS",
    "invert_providers",
    "normalise_address",
    "parse_message",
    "provider_of",
]

# Placeholder vocabulary; the full tuples are published by the parser modules.
INVALID_REASONS: tuple[str, ...] = ("not_json",)
CONTROL_REASONS: tuple[str, ...] = ("sns_subscription_confirmation",)


def parse_message(body: str | bytes) -> SesEvent | Rejection:
    """Parse one SQS message body; never raises."""
    return Rejection(Outcome.INVALID, "not_json")


def normalise_address(address: str) -> str:
    """``'"Jane" <Jane@Example.COM>'`` → ``'jane@example.com'``."""
    return address.strip().lower()


def provider_of(address: str, domain_to_provider: Mapping[str, str]) -> str:
    """Mailbox-provider group of a normalised address, or ``other``."""
    return domain_to_provider.get(address.rpartition("@")[2], PROVIDERS_OTHER)


def invert_providers(providers: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``config.providers`` (provider → domains) → domain → provider."""
    return {domain.lower(): name for name, domains in providers.items() for domain in domains}
