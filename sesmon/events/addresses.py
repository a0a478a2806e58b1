"""Recipient addresses: normalisation, mailbox-simulator detection and mailbox-provider groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from sesmon.model import PROVIDERS_OTHER

SIMULATOR_DOMAIN: Final = "simulator.amazonses.com"
SIMULATOR_SUFFIX: Final = "@" + SIMULATOR_DOMAIN


def normalise_address(address: str) -> str:
    """``'"Jane" <Jane@Example.COM>'`` → ``'jane@example.com'``.

    The whole address is lowercased: local parts are case-sensitive in theory but not in practice,
    and counting one mailbox under two spellings would split its numbers.
    """
    if "<" in address:
        # The last '<' opens the addr-spec; a quoted display name may itself contain '<'.
        start = address.rfind("<") + 1
        end = address.find(">", start)
        address = address[start:] if end < 0 else address[start:end]
    return address.strip().lower()


def is_simulator(address: str) -> bool:
    """True for an SES mailbox-simulator address (normalised), which AWS leaves out of its rates."""
    return address.endswith(SIMULATOR_SUFFIX)


def provider_of(address: str, domain_to_provider: Mapping[str, str]) -> str:
    """Provider group of an address by its exact domain (subdomains match only if listed), else ``other``."""
    return domain_to_provider.get(address.rpartition("@")[2].lower(), PROVIDERS_OTHER)


def invert_providers(providers: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``config.providers`` (provider → domains) → domain → provider; a repeated domain keeps the first."""
    inverted: dict[str, str] = {}
    for provider, domains in providers.items():
        for domain in domains:
            inverted.setdefault(domain.strip().lower(), provider)
    return inverted
