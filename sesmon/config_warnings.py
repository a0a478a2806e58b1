"""A valid config's likely mistakes (placeholders left from the example, alerts going nowhere): pure."""

from __future__ import annotations

from typing import Final

from sesmon.config import Config, TargetConfig
from sesmon.promrules import problems as prometheus_rule_problems
from sesmon.wiring import literal_sets

# The account id of config.example.yaml and AWS's documentation (moto's too, hence the endpoint test).
PLACEHOLDER_ACCOUNT: Final = "123456789012"
# Domains reserved for examples (RFC 2606): no real sender has them.
EXAMPLE_DOMAINS: Final = ("example.com", "example.org", "example.net")


def config_warnings(config: Config) -> list[str]:
    """One line per item a new user surely did not mean, each naming its key."""
    found: list[str] = []
    for index, target in enumerate(config.targets):
        found += _target_warnings(f"targets[{index}]", target)
    alerts = config.alerts
    if not alerts.sinks:
        found.append(
            "alerts.sinks: none configured: alerts only show on /metrics and the status page; "
            "add a webhook, slack, pagerduty or alertmanager sink to be notified"
        )
    if not alerts.actions.configuration_sets:
        for index, rule in enumerate(alerts.rules):
            if "pause_configuration_set" in rule.actions:
                found.append(
                    f"alerts.rules[{index}].actions: {rule.name} has pause_configuration_set but "
                    "alerts.actions.configuration_sets is empty, so it may pause no set; list the sets"
                )
    # The built-in evaluator reads the counts themselves; only the exported rule file would be dead.
    found += [
        f"{problem} (`sesmon rules` refuses it until then; the built-in evaluator does not need it)"
        for problem in prometheus_rule_problems(config)
    ]
    return found


def _target_warnings(key: str, target: TargetConfig) -> list[str]:
    found: list[str] = []
    # Against a local endpoint (the demo, tests) the placeholder is the mock's real account.
    if target.endpoint_url is None:
        if target.sqs is not None and target.sqs.account_id == PLACEHOLDER_ACCOUNT:
            found.append(
                f"{key}.sqs.queue_url: account {PLACEHOLDER_ACCOUNT} is the example's placeholder; "
                "set SESMON_QUEUE_URL or write your queue's URL"
            )
        if target.role_arn is not None and f"::{PLACEHOLDER_ACCOUNT}:" in target.role_arn:
            found.append(
                f"{key}.role_arn: account {PLACEHOLDER_ACCOUNT} is the example's placeholder; "
                "write your role's ARN"
            )
    if target.sqs is not None and not literal_sets(target):
        found.append(
            f"{key}.events.configuration_sets: no set named ({key}.configuration_sets holds only "
            "globs), so `sesmon setup` adds its event destination to no configuration set; "
            "list the sets to wire"
        )
    if target.canary is not None:
        domain = target.canary.from_address.rsplit("@", 1)[-1].lower()
        if domain in EXAMPLE_DOMAINS:
            found.append(
                f"{key}.canary.from_address: {target.canary.from_address} is an example address; "
                "use a verified identity of the account"
            )
    return found
