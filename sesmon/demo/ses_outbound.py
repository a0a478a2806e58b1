"""What SES publishes for a message sent through a configuration set (pure): its Send and Delivery records.

moto accepts SES v2 SendEmail but publishes no configuration-set events; the demo middleware uses
these records to do what SES does for a message to the mailbox simulator's success address.
"""

from __future__ import annotations

from typing import Any

from sesmon.demo.traffic import iso


def _mail(
    message_id: str,
    configuration_set: str,
    source: str,
    to: list[str],
    *,
    at: float,
    account_id: str,
    region: str,
) -> dict[str, Any]:
    return {
        "timestamp": iso(at),
        "source": source,
        "sourceArn": f"arn:aws:ses:{region}:{account_id}:identity/{source.rpartition('@')[2]}",
        "sendingAccountId": account_id,
        "messageId": message_id,
        "destination": list(to),
        "headersTruncated": False,
        "headers": [],
        "commonHeaders": {"from": [source], "to": list(to), "messageId": message_id},
        "tags": {
            "ses:operation": ["SendEmail"],
            "ses:configuration-set": [configuration_set],
            "ses:from-domain": [source.rpartition("@")[2]],
        },
    }


def send_and_delivery(
    message_id: str,
    configuration_set: str,
    source: str,
    to: list[str],
    at: float,
    *,
    account_id: str,
    region: str,
) -> list[dict[str, Any]]:
    """The Send record, then the Delivery record (the simulator accepts at once)."""
    mail = _mail(message_id, configuration_set, source, to, at=at, account_id=account_id, region=region)
    send = {"eventType": "Send", "mail": mail, "send": {}}
    delivery = {
        "eventType": "Delivery",
        "mail": mail,
        "delivery": {
            "timestamp": iso(at),
            "processingTimeMillis": 0,
            "recipients": list(to),
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-30.smtp-out.amazonses.com",
        },
    }
    return [send, delivery]
