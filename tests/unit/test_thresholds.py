"""Which rules watch a rate, and the levels the status page colours it by."""

from __future__ import annotations

from sesmon.config import AlertsConfig
from sesmon.status import Levels
from sesmon.thresholds import levels_for

RULES = AlertsConfig.model_validate(
    {
        "rules": [
            {
                "name": "BounceHigh",
                "signal": "bounce_rate",
                "window": "volume",
                "warning": 0.02,
                "critical": 0.04,
            },
            {
                "name": "BounceSpike",
                "signal": "bounce_rate",
                "window": "1h",
                "warning": 0.05,
                "configuration_sets": ["mk-*"],
            },
            {
                "name": "BounceSpikeEu",
                "signal": "bounce_rate",
                "window": "1h",
                "warning": 0.03,
                "critical": 0.08,
                "targets": ["eu"],
            },
            {"name": "Complaints", "signal": "complaint_rate", "window": "1h", "critical": 0.005},
        ]
    }
).rules


def test_levels_of_the_rules_whose_window_and_scope_match() -> None:
    assert levels_for(RULES, "bounce_rate", "volume", "us", "tx") == Levels(0.02, 0.04, ("BounceHigh",))
    assert levels_for(RULES, "bounce_rate", "1h", "us", "tx") is None  # BounceSpike is for mk-* only
    assert levels_for(RULES, "bounce_rate", "1h", "us", "mk-news") == Levels(0.05, None, ("BounceSpike",))
    # Several rules: the lowest level of each kind, every rule named.
    assert levels_for(RULES, "bounce_rate", "1h", "eu", "mk-news") == Levels(
        0.03, 0.08, ("BounceSpike", "BounceSpikeEu")
    )
    assert levels_for(RULES, "complaint_rate", "1h", "us", "tx") == Levels(None, 0.005, ("Complaints",))
    assert levels_for(RULES, "complaint_rate", "24h", "us", "tx") is None


def test_any_window_for_the_sparklines() -> None:
    assert levels_for(RULES, "bounce_rate", None, "eu", "tx") == Levels(
        0.02, 0.04, ("BounceHigh", "BounceSpikeEu")
    )


def test_account_level_rates_take_only_rules_that_do_not_narrow_sets() -> None:
    rules = AlertsConfig.model_validate(
        {
            "rules": [
                {"name": "Reputation", "signal": "cloudwatch_bounce_rate", "warning": 0.02, "critical": 0.05},
                {
                    "name": "ReputationMk",
                    "signal": "cloudwatch_bounce_rate",
                    "warning": 0.01,
                    "configuration_sets": ["mk-*"],
                },
            ]
        }
    ).rules
    assert levels_for(rules, "cloudwatch_bounce_rate", None, "us", None) == Levels(
        0.02, 0.05, ("Reputation",)
    )
