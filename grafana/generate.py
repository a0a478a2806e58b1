"""Generate sesmon's Grafana dashboards with grafana-foundation-sdk: ``python grafana/generate.py [--check]``.

The JSON under ``grafana/dashboards/`` is this script's output, committed so that Grafana provisioning and
users without Python can use it. Edit this file, never the JSON; ``--check`` fails when they disagree or
when the SDK's own dashboard model cannot read the output back unchanged (an unknown or mistyped field).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, gauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus as prom_model

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"

# Panels and variables reference the datasource variable, so provisioning and UI import both work
# without the ${DS_...} placeholders that only the import dialog understands.
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Filters every AWS-derived series by the dashboard's variables: the target (a name from the config,
# unique even when two targets share an account or a set name), its account and its region.
ACCOUNT = 'target=~"$target", account_id=~"$account_id", region=~"$region"'
CONFIG_SET = f'{ACCOUNT}, configuration_set=~"$configuration_set"'
# The event-count families (sesmon_events_total, sesmon_recipients_total and the other per-set
# counters, the window gauges, the last-event time) carry only the target: written on every per-set
# series, account_id and region were about a third of a 1,000-set exposition, which the info-metric
# pattern (both on sesmon_target_info, one series per target) keeps under 2 MB. So these selectors
# filter by target and set only, and in_accounts() joins the account and region back.
TARGET = 'target=~"$target"'
COUNTED = f'{TARGET}, configuration_set=~"$configuration_set"'
TARGET_INFO = f"sesmon_target_info{{{ACCOUNT}}}"
# sesmon's alerts carry their target's account and region (empty for alerts about no target);
# account-level ones carry an empty configuration_set.
ALERT_SET = (
    'target=~"$target|", account_id=~"$account_id|", region=~"$region|", '
    'configuration_set=~"$configuration_set|"'
)
# Keeps the process_* and python_* families of other exporters scraped by the same Prometheus out.
SESMON_PROCESS = "and on (job, instance) sesmon_build_info"

# Units: SES counts recipients and events, sesmon counts messages and notifications; Grafana's
# "suffix:" unit names what is counted instead of calling it requests or operations.
RECIPIENTS_PER_SECOND = "suffix: recipients/s"
RECIPIENTS = "suffix: recipients"
EVENTS_PER_SECOND = "suffix: events/s"
MESSAGES_PER_SECOND = "suffix: messages/s"
NOTIFICATIONS_PER_SECOND = "suffix: notifications/s"

# AWS's published review and pause levels for account-level reputation.
BOUNCE_REVIEW, BOUNCE_PAUSE = 0.05, 0.10
COMPLAINT_REVIEW, COMPLAINT_PAUSE = 0.001, 0.005

# SES's DKIM and MAIL FROM states, as the Identities table shows them (text, colour).
IDENTITY_STATES = {
    "SUCCESS": ("SUCCESS", "green"),
    "PENDING": ("PENDING", "orange"),
    "NOT_STARTED": ("NOT_STARTED", "orange"),
    "TEMPORARY_FAILURE": ("TEMPORARY_FAILURE", "orange"),
    "FAILED": ("FAILED", "red"),
    "unknown": ("unknown", "text"),
}
# The DMARC panel's name for a domain whose policy state set is all 0.
NO_DMARC_RECORD = "no valid record"

# CloudWatch GetMetricData is billed per metric requested.
CLOUDWATCH_USD_PER_METRIC = 0.01 / 1000


# --- small helpers -------------------------------------------------------------------------------------


def query(expr: str, legend: str = "__auto", *, instant: bool = False) -> prom.Dataquery:
    """A Prometheus query; ``instant`` for panels that show the latest value only."""
    q = prom.Dataquery().expr(expr).legend_format(legend).datasource(DATASOURCE)
    return q.instant() if instant else q.range()


def in_accounts(vector: str) -> str:
    """``vector`` (an event-count family, raw or rate'd) kept to the selected accounts and regions.

    The join must come before any aggregation: it matches on the scrape's job and instance, which
    ``sum by`` drops, and it brings account_id and region back for legends and grouping.
    """
    return f"({vector} * on(job, instance, target) group_left(account_id, region) {TARGET_INFO})"


def counted(
    family: str,
    matchers: str = "",
    *,
    selector: str = COUNTED,
    func: str = "rate",
    over: str = "$__rate_interval",
) -> str:
    """``func`` (rate or increase) of an event-count counter over ``over``, for the selected targets,
    sets, accounts and regions; ``matchers`` are added to the selector."""
    labels = f"{selector}, {matchers}" if matchers else selector
    return in_accounts(f"{func}({family}{{{labels}}}[{over}])")


def steps(*levels: tuple[float | None, str]) -> builders.ThresholdsConfig:
    """Absolute threshold steps; the first level is the base (``None``)."""
    return (
        builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in levels])
    )


def value_text(mapping: dict[str, tuple[str, str]]) -> list[model.ValueMapping]:
    """Value mappings from raw value to (display text, colour)."""
    return [
        model.ValueMap(
            options={
                raw: model.ValueMappingResult(text=text, color=color, index=i)
                for i, (raw, (text, color)) in enumerate(mapping.items())
            }
        )
    ]


def last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def table_legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )


def graph(title: str, description: str, unit: str, *targets: prom.Dataquery) -> timeseries.Panel:
    """A time series panel with a table legend."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .fill_opacity(10)
        .legend(table_legend())
        .height(8)
        .span(12)
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def stacked(panel: timeseries.Panel) -> timeseries.Panel:
    return panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL)).fill_opacity(40)


def with_levels(panel: timeseries.Panel, review: float, pause: float) -> timeseries.Panel:
    """Draw AWS's review and pause levels as dashed threshold lines."""
    return panel.thresholds(steps((None, "green"), (review, "orange"), (pause, "red"))).thresholds_style(
        common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
    )


def big_value(title: str, description: str, target: prom.Dataquery) -> stat.Panel:
    """A stat panel showing the latest value per series."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(target)
        .reduce_options(last_value())
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .height(5)
        .span(6)
    )


def variable(name: str, label: str, expr: str) -> builders.QueryVariable:
    """A multi-value label_values variable whose "All" is a regex matching everything."""
    return (
        builders.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(expr)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def with_target_variables(dash: builders.Dashboard) -> builders.Dashboard:
    """Target (a name from sesmon's config), then its accounts, then their regions."""
    return (
        dash.with_variable(variable("target", "Target", "label_values(sesmon_source_up, target)"))
        .with_variable(
            variable("account_id", "Account", 'label_values(sesmon_source_up{target=~"$target"}, account_id)')
        )
        .with_variable(
            variable(
                "region",
                "Region",
                'label_values(sesmon_source_up{target=~"$target", account_id=~"$account_id"}, region)',
            )
        )
    )


def datasource_variable() -> builders.DatasourceVariable:
    return builders.DatasourceVariable("datasource").label("Data source").type("prometheus")


def base(uid: str, title: str, description: str) -> builders.Dashboard:
    return (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["sesmon", "ses", "email"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .link(
            builders.DashboardLink("sesmon dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["sesmon"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


# --- the overview dashboard ----------------------------------------------------------------------------


def overview() -> builders.Dashboard:
    """Deliverability at a glance: account state, sending, reputation and alerts."""
    dash = (
        with_target_variables(
            base(
                "sesmon-overview",
                "sesmon / SES deliverability",
                "Amazon SES deliverability per target, account, region and configuration set, from sesmon.",
            ).with_variable(datasource_variable())
        )
        .with_variable(
            variable(
                "configuration_set",
                "Configuration set",
                # label_values() takes a plain selector, no join: the sets of the selected targets.
                f"label_values(sesmon_window_sent_recipients{{{TARGET}}}, configuration_set)",
            )
        )
        .with_variable(
            builders.QueryVariable("window")
            .label("Window")
            .description("Sliding window of the event-based rates (the volume window follows AWS's method).")
            .datasource(DATASOURCE)
            .query(f"label_values(sesmon_window_bounce_ratio{{{TARGET}}}, window)")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .multi(False)
            .include_all(False)
        )
    )

    dash = dash.with_row(builders.Row("Account"))
    dash = dash.with_panel(
        big_value(
            "Enforcement status",
            "SES account enforcement status (HEALTHY, PROBATION or SHUTDOWN).",
            query(
                f"max by (account_id, region, status) (sesmon_account_enforcement_status{{{ACCOUNT}}}) == 1",
                "{{account_id}} {{region}}: {{status}}",
                instant=True,
            ),
        )
        .text_mode(common.BigValueTextMode.NAME)
        .color_scheme(builders.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color("blue"))
        .override_by_regexp(".*(PROBATION|probation).*", [_fixed_color("orange")])
        .override_by_regexp(".*(SHUTDOWN|shutdown).*", [_fixed_color("red")])
        .override_by_regexp(".*(HEALTHY|healthy).*", [_fixed_color("green")])
    )
    dash = dash.with_panel(
        big_value(
            "Sandbox",
            "Whether the account still has sandbox limits (no production access).",
            query(
                f"1 - max by (account_id, region) (sesmon_account_production_access_enabled{{{ACCOUNT}}})",
                "{{account_id}} {{region}}",
                instant=True,
            ),
        )
        .mappings(value_text({"0": ("production", "green"), "1": ("sandbox", "orange")}))
        .thresholds(steps((None, "green"), (1, "orange")))
    )
    dash = dash.with_panel(
        big_value(
            "Sending enabled",
            "Whether SES lets the account send; AWS pauses sending when reputation is too poor.",
            query(
                f"max by (account_id, region) (sesmon_account_sending_enabled{{{ACCOUNT}}})",
                "{{account_id}} {{region}}",
                instant=True,
            ),
        )
        .mappings(value_text({"0": ("paused", "red"), "1": ("enabled", "green")}))
        .thresholds(steps((None, "red"), (1, "green")))
    )
    dash = dash.with_panel(
        gauge.Panel()
        .title("Quota usage (24h)")
        .description("Recipients sent in the last 24 hours as a share of the 24-hour sending quota.")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"max by (target, account_id, region) (sesmon_send_quota_usage_ratio{{{ACCOUNT}}})",
                "{{target}}",
                instant=True,
            )
        )
        .unit("percentunit")
        .min(0)
        .max(1)
        .reduce_options(last_value())
        .thresholds(steps((None, "green"), (0.8, "orange"), (0.95, "red")))
        .height(5)
        .span(6)
    )
    dash = dash.with_panel(
        graph(
            "Sending quota",
            "Recipients sent in the last 24 hours against the 24-hour quota.",
            RECIPIENTS,
            query(f"sesmon_send_quota_sent_last_24h{{{ACCOUNT}}}", "sent 24h {{target}}"),
            query(f"sesmon_send_quota_max_24h{{{ACCOUNT}}}", "quota 24h {{target}}"),
        ).span(8)
    )
    dash = dash.with_panel(
        graph(
            "Maximum send rate",
            "The most recipients SES accepts per second from the account.",
            RECIPIENTS_PER_SECOND,
            query(f"sesmon_send_quota_max_rate{{{ACCOUNT}}}", "{{target}}"),
        ).span(4)
    )
    dash = dash.with_panel(
        _instant_table(
            "Configuration sets",
            "Sending and reputation-metrics switches of each configuration set.",
            {
                "sending enabled": f"max by (account_id, region, configuration_set) "
                f"(sesmon_configuration_set_sending_enabled{{{CONFIG_SET}}})",
                "reputation metrics": f"max by (account_id, region, configuration_set) "
                f"(sesmon_configuration_set_reputation_metrics_enabled{{{CONFIG_SET}}})",
            },
            ["account_id", "region", "configuration_set"],
        ).mappings(value_text({"0": ("off", "red"), "1": ("on", "green")}))
    )

    dash = dash.with_row(builders.Row("Sending"))
    # "$configuration_set|" also matches the series without the label (events_per_set off).
    events = counted("sesmon_events_total", selector=f'{TARGET}, configuration_set=~"$configuration_set|"')
    dash = dash.with_panel(
        graph(
            "Sends and deliveries",
            "Recipients per second per configuration set (SES counts recipients, not messages).",
            RECIPIENTS_PER_SECOND,
            query(
                "sum by (target, configuration_set, event_type) "
                + counted("sesmon_recipients_total", 'event_type=~"send|delivery"'),
                "{{target}} {{configuration_set}} {{event_type}}",
            ),
        ).span(8)
    )
    dash = dash.with_panel(
        graph(
            "Bounces, complaints and delays",
            "Bounced, complained and delayed recipients per second per configuration set; the "
            "breakdowns by type below need their metrics details.",
            RECIPIENTS_PER_SECOND,
            query(
                "sum by (target, configuration_set, event_type) "
                + counted("sesmon_recipients_total", 'event_type=~"bounce|complaint|delivery_delay"'),
                "{{target}} {{configuration_set}} {{event_type}}",
            ),
        ).span(8)
    )
    dash = dash.with_panel(
        stacked(
            graph(
                "Events by type",
                "SES events per second by type. Per configuration set with metrics.events_per_set: true; "
                "without it sesmon counts events per target, so a configuration set selection shows its "
                "target's events.",
                EVENTS_PER_SECOND,
                query(f"sum by (event_type) {events}", "{{event_type}}"),
            )
        ).span(8)
    )

    dash = dash.with_row(builders.Row("Reputation"))
    dash = dash.with_panel(
        with_levels(
            graph(
                "Bounce rate: events vs CloudWatch",
                "AWS-comparable bounce rate computed from events over the selected window (sent "
                "recipients from Send events, or CloudWatch Send where Send is not routed), next to "
                "CloudWatch's Reputation.BounceRate. Dashed lines: AWS review (5%) and pause (10%) levels.",
                "percentunit",
                query(
                    in_accounts(f'sesmon_window_bounce_ratio{{{COUNTED}, window="$window"}}'),
                    "events {{target}} {{configuration_set}} ({{window}}, sent from {{denominator}})",
                ),
                query(
                    f"sesmon_configuration_set_reputation_bounce_ratio{{{CONFIG_SET}}}",
                    "CloudWatch {{target}} {{configuration_set}}",
                ),
                query(
                    f"sesmon_account_reputation_bounce_ratio{{{ACCOUNT}}}",
                    "CloudWatch account {{account_id}} {{region}}",
                ),
            ),
            BOUNCE_REVIEW,
            BOUNCE_PAUSE,
        )
    )
    dash = dash.with_panel(
        with_levels(
            graph(
                "Complaint rate: events vs CloudWatch",
                "AWS-comparable complaint rate computed from events over the selected window, next to "
                "CloudWatch's Reputation.ComplaintRate. Dashed lines: AWS review (0.1%) and pause (0.5%).",
                "percentunit",
                query(
                    in_accounts(f'sesmon_window_complaint_ratio{{{COUNTED}, window="$window"}}'),
                    "events {{target}} {{configuration_set}} ({{window}}, sent from {{denominator}})",
                ),
                query(
                    f"sesmon_configuration_set_reputation_complaint_ratio{{{CONFIG_SET}}}",
                    "CloudWatch {{target}} {{configuration_set}}",
                ),
                query(
                    f"sesmon_account_reputation_complaint_ratio{{{ACCOUNT}}}",
                    "CloudWatch account {{account_id}} {{region}}",
                ),
            ),
            COMPLAINT_REVIEW,
            COMPLAINT_PAUSE,
        )
    )
    dash = dash.with_panel(
        graph(
            "Sent recipients in window",
            "The denominator of the event-based rates: a rate over few recipients says little. "
            "From Send events, or from CloudWatch's Send for sets whose Send events are not routed.",
            RECIPIENTS,
            query(
                in_accounts(f'sesmon_window_sent_recipients{{{COUNTED}, window="$window"}}'),
                "{{target}} {{configuration_set}} ({{window}}, {{denominator}})",
            ),
        )
    )
    dash = dash.with_panel(
        stacked(
            graph(
                "Delivery delays by type",
                "Delayed recipients per second by delay type; needs metrics.delay_types: true (the "
                "Bounces, complaints and delays panel has the total without it).",
                RECIPIENTS_PER_SECOND,
                query(
                    f"sum by (delay_type) {counted('sesmon_delivery_delays_total')}",
                    "{{delay_type}}",
                ),
            )
        )
    )

    dash = dash.with_row(builders.Row("Bounces, complaints and providers"))
    dash = dash.with_panel(
        stacked(
            graph(
                "Bounces by type and subtype",
                "Bounced recipients per second. Permanent bounces (except OnAccountSuppressionList) count "
                "toward the AWS bounce rate. Needs metrics.bounce_types: true (metrics.bounce_subtypes: "
                "true for the subtypes).",
                RECIPIENTS_PER_SECOND,
                query(
                    f"sum by (bounce_type, bounce_subtype) {counted('sesmon_bounces_total')}",
                    "{{bounce_type}} / {{bounce_subtype}}",
                ),
            )
        )
    )
    dash = dash.with_panel(
        stacked(
            graph(
                "Complaints by feedback type",
                "Complained recipients per second by feedback type and complaint subtype; needs "
                "metrics.complaint_types: true (metrics.complaint_subtypes: true for the subtypes).",
                RECIPIENTS_PER_SECOND,
                query(
                    f"sum by (feedback_type, complaint_subtype) {counted('sesmon_complaints_total')}",
                    "{{feedback_type}} {{complaint_subtype}}",
                ),
            )
        )
    )
    dash = dash.with_panel(
        stacked(
            graph(
                "Recipients by mailbox provider",
                "Recipients per second by mailbox provider and event type; needs metrics.providers: true.",
                RECIPIENTS_PER_SECOND,
                query(
                    f"sum by (provider, event_type) {counted('sesmon_recipients_by_provider_total')}",
                    "{{provider}} {{event_type}}",
                ),
            )
        )
    )
    bounced, sent = (
        counted(
            "sesmon_recipients_by_provider_total", f'event_type="{kind}"', func="increase", over="$__range"
        )
        for kind in ("bounce", "send")
    )
    dash = dash.with_panel(
        bargauge.Panel()
        .title("Bounce share by mailbox provider")
        .description(
            "Bounced ÷ sent recipients per provider over the dashboard's time range; needs "
            "metrics.providers: true."
        )
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"sum by (provider) {bounced} / (sum by (provider) {sent} > 0)",
                "{{provider}}",
                instant=True,
            )
        )
        .unit("percentunit")
        .min(0)
        .reduce_options(last_value())
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .orientation(common.VizOrientation.HORIZONTAL)
        .thresholds(steps((None, "green"), (BOUNCE_REVIEW, "orange"), (BOUNCE_PAUSE, "red")))
        .height(8)
        .span(12)
    )

    dash = authentication_and_routing(dash.with_row(builders.Row("Authentication and routing")))

    dash = dash.with_row(builders.Row("Alerts"))
    dash = dash.with_panel(
        table.Panel()
        .title("Firing alerts")
        .align(common.FieldTextAlignment.AUTO)
        .inspect(False)
        .description("Alerts firing in sesmon now; account-level alerts have no configuration set.")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"max by (rule, severity, target, account_id, configuration_set) "
                f"(sesmon_alerts_firing{{{ALERT_SET}}}) > 0",
                "{{rule}}",
                instant=True,
            ).format(_table_format())
        )
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize", options={"excludeByName": {"Time": True, "Value": True}}
            )
        )
        .height(8)
        .span(12)
    )
    return dash.with_panel(
        stacked(
            graph(
                "Firing alerts over time",
                "Number of firing alerts by rule and severity.",
                "short",
                query(
                    f"sum by (rule, severity) (sesmon_alerts_firing{{{ALERT_SET}}})",
                    "{{rule}} ({{severity}})",
                ),
            )
        ).draw_style(common.GraphDrawStyle.BARS)
    )


def authentication_and_routing(dash: builders.Dashboard) -> builders.Dashboard:
    """The "Authentication and routing" panels: can mail authenticate, and does sesmon see every event."""
    identities = _instant_table(
        "Identities",
        "Verification, sending, DKIM and custom MAIL FROM state of each SES identity; MAIL FROM is "
        "empty for identities without a custom MAIL FROM domain.",
        {
            "verified": f"max by (account_id, region, identity, identity_type) "
            f"(sesmon_identity_verified{{{ACCOUNT}}})",
            "sending": f"max by (account_id, region, identity, identity_type) "
            f"(sesmon_identity_sending_enabled{{{ACCOUNT}}})",
        },
        ["account_id", "region", "identity", "identity_type"],
        states={
            "DKIM": ("dkim", _current_state("sesmon_identity_dkim_status", "dkim")),
            "MAIL FROM": ("mail_from", _current_state("sesmon_identity_mail_from_status", "mail_from")),
        },
    ).mappings(value_text({"0": ("no", "red"), "1": ("yes", "green"), **IDENTITY_STATES}))
    for column in ("verified", "sending", "DKIM", "MAIL FROM"):
        identities = identities.override_by_name(column, [_cells("color-background")])
    dash = dash.with_panel(identities)
    dash = dash.with_panel(
        statetimeline.Panel()
        .title("DNS checks")
        .description(
            "sesmon's own lookups of each domain's SPF, DMARC, DKIM and MAIL FROM MX records; a failed "
            "check means receivers may not be able to authenticate the mail."
        )
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"max by (account_id, region, domain, check) (sesmon_dns_check_ok{{{ACCOUNT}}})",
                "{{domain}} {{check}}",
            )
        )
        .mappings(value_text({"0": ("failed", "red"), "1": ("ok", "green")}))
        .thresholds(steps((None, "red"), (1, "green")))
        .merge_values(True)
        .show_value(common.VisibilityMode.AUTO)
        .fill_opacity(70)
        .height(8)
        .span(12)
    )
    dash = dash.with_panel(
        big_value(
            "DMARC policy",
            "The DMARC policy receivers apply to each domain: reject or quarantine enforce it, none only "
            "reports, and a domain without a valid record fails the large mailbox providers' sender rules.",
            query(
                f"max by (account_id, region, domain, policy) (sesmon_dmarc_policy{{{ACCOUNT}}}) == 1"
                # A state set with every state at 0 means no valid record: show that as its own state.
                f" or label_replace(max by (account_id, region, domain) (sesmon_dmarc_policy{{{ACCOUNT}}})"
                f' == 0, "policy", "{NO_DMARC_RECORD}", "", "")',
                "{{domain}}: {{policy}}",
                instant=True,
            ),
        )
        .text_mode(common.BigValueTextMode.NAME)
        .color_scheme(builders.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color("blue"))
        .override_by_regexp(".*: (reject|quarantine)$", [_fixed_color("green")])
        .override_by_regexp(".*: none$", [_fixed_color("orange")])
        .override_by_regexp(f".*: {NO_DMARC_RECORD}$", [_fixed_color("red")])
        .height(8)
        .span(6)
    )
    # One row per configuration set (account and region spelt out, since set names repeat across
    # them) and one column per event type, so an unrouted type stands out as a red cell.
    routed = (
        f"label_join(max by (account_id, region, configuration_set, event_type) "
        f'(sesmon_configuration_set_event_type_routed{{{CONFIG_SET}}}), "set", " / ", '
        f'"configuration_set", "region", "account_id")'
    )
    dash = dash.with_panel(
        table.Panel()
        .title("Event types routed")
        .description(
            "Whether each configuration set publishes each event type to an enabled event destination. "
            "An unrouted bounce or complaint type blinds the event-based rates."
        )
        .datasource(DATASOURCE)
        .with_target(query(routed, "{{set}} {{event_type}}", instant=True).format(_table_format()))
        .with_transformation(
            model.DataTransformerConfig(
                id_val="groupingToMatrix",
                options={"columnField": "event_type", "rowField": "set", "valueField": "Value"},
            )
        )
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={"renameByName": {"set\\event_type": "configuration set / region / account"}},
            )
        )
        .align(common.FieldTextAlignment.AUTO)
        .inspect(False)
        .cell_options(common.TableColoredBackgroundCellOptions())
        .mappings(value_text({"0": ("not routed", "red"), "1": ("routed", "green")}))
        .thresholds(steps((None, "red"), (1, "green")))
        .override_by_name("configuration set / region / account", [_cells("auto")])
        .height(8)
        .span(18)
    )
    return dash.with_panel(
        graph(
            "Time since the last event",
            "Seconds since the newest SES event sesmon counted for each configuration set; a line that "
            "keeps climbing while the set still sends means its events no longer arrive.",
            "s",
            query(
                "time() - "
                + in_accounts(f"sesmon_configuration_set_last_event_timestamp_seconds{{{COUNTED}}}"),
                "{{target}} {{configuration_set}} {{account_id}} {{region}}",
            ),
        ).span(24)
    )


def _current_state(metric: str, label: str) -> str:
    """The current state of a state-set metric per identity, carried in ``label`` instead of ``status``.

    Distinct label names let the DKIM and MAIL FROM tables merge into one row per identity.
    """
    return (
        f"max by (account_id, region, identity, {label}) "
        f'(label_join({metric}{{{ACCOUNT}}} == 1, "{label}", "", "status"))'
    )


def _instant_table(
    title: str,
    description: str,
    columns: dict[str, str],
    keys: list[str],
    *,
    states: dict[str, tuple[str, str]] | None = None,
) -> table.Panel:
    """A table of instant queries joined on ``keys``; each query's value becomes a named column.

    ``states`` maps a column to (label, query) for state sets: the query returns the current state in
    ``label``, which becomes the column, and its constant value is hidden.
    """
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .align(common.FieldTextAlignment.AUTO)
        .inspect(False)
        .height(8)
        .span(12)
    )
    states = states or {}
    multiple = len(columns) + len(states) > 1
    rename: dict[str, str] = {}
    exclude = {"Time": True}
    for index, (column, expr) in enumerate(columns.items()):
        ref = chr(ord("A") + index)
        panel = panel.with_target(query(expr, column, instant=True).format(_table_format()).ref_id(ref))
        rename[f"Value #{ref}" if multiple else "Value"] = column
    for index, (column, (label, expr)) in enumerate(states.items(), start=len(columns)):
        ref = chr(ord("A") + index)
        panel = panel.with_target(query(expr, column, instant=True).format(_table_format()).ref_id(ref))
        exclude[f"Value #{ref}" if multiple else "Value"] = True
        rename[label] = column
    order = [*keys, *columns, *(label for label, _ in states.values())]
    return panel.with_transformation(
        model.DataTransformerConfig(id_val="merge", options={})
    ).with_transformation(
        model.DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": exclude,
                "indexByName": {name: i for i, name in enumerate(order)},
                "renameByName": rename,
            },
        )
    )


def _cells(kind: str) -> model.DynamicConfigValue:
    """A table column's cell type, e.g. ``color-background`` to colour it by its value mapping."""
    return model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": kind})


def _fixed_color(color: str) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})


def _table_format() -> prom_model.PromQueryFormat:
    return prom_model.PromQueryFormat.TABLE


# --- the self-monitoring dashboard ---------------------------------------------------------------------


def self_monitoring() -> builders.Dashboard:
    """sesmon's own health: sources, AWS API use and cost, SQS intake, lag and notifications."""
    dash = with_target_variables(
        base(
            "sesmon-self",
            "sesmon / self-monitoring",
            "Health of the sesmon daemon: sources, AWS API requests and cost, SQS intake and notifications.",
        ).with_variable(datasource_variable())
    )

    dash = dash.with_row(builders.Row("Sources"))
    dash = dash.with_panel(
        big_value(
            "Sources up",
            "Whether each source's last poll succeeded.",
            query(f"sesmon_source_up{{{ACCOUNT}}}", "{{target}} {{source}}", instant=True),
        )
        .mappings(value_text({"0": ("down", "red"), "1": ("up", "green")}))
        .thresholds(steps((None, "red"), (1, "green")))
        .span(8)
    )
    dash = dash.with_panel(
        big_value(
            "Version",
            "Running sesmon version.",
            query("sesmon_build_info", "{{version}}", instant=True),
        )
        .text_mode(common.BigValueTextMode.NAME)
        .color_mode(common.BigValueColorMode.NONE)
        .span(4)
    )
    dash = dash.with_panel(
        graph(
            "Time since last successful poll",
            "Seconds since each source last succeeded.",
            "s",
            query(
                f"time() - sesmon_source_last_success_timestamp_seconds{{{ACCOUNT}}}",
                "{{target}} {{source}}",
            ),
        )
    )
    dash = dash.with_panel(
        graph(
            "Poll duration",
            "Duration of each source's last poll.",
            "s",
            query(f"sesmon_poll_duration_seconds{{{ACCOUNT}}}", "{{target}} {{source}}"),
        )
    )
    dash = dash.with_panel(
        graph(
            "/metrics size",
            "Series (samples) and uncompressed bytes of the last /metrics rendering; the "
            "per-set breakdowns under metrics: in the config raise both.",
            "short",
            query("sesmon_exposition_series", "series {{instance}}"),
            query("sesmon_exposition_bytes", "bytes {{instance}}"),
        )
    )
    dash = dash.with_panel(
        graph(
            "CloudWatch data age",
            "Age of the newest CloudWatch datapoint per metric; SES publishes reputation late.",
            "s",
            query(
                f"sesmon_cloudwatch_data_age_seconds{{{ACCOUNT}}}",
                "{{metric}} {{account_id}} {{region}}",
            ),
        )
    )

    dash = dash.with_row(builders.Row("AWS API requests and cost"))
    dash = dash.with_panel(
        stacked(
            graph(
                "AWS API requests",
                "Requests per second by service and operation.",
                "reqps",
                query(
                    f"sum by (service, operation) "
                    f"(rate(sesmon_aws_api_requests_total{{{ACCOUNT}}}[$__rate_interval]))",
                    "{{service}} {{operation}}",
                ),
            )
        )
    )
    dash = dash.with_panel(
        graph(
            "Estimated CloudWatch cost",
            "GetMetricData is billed at $0.01 per 1,000 metrics requested; this is the daily cost at the "
            "current request rate.",
            "currencyUSD",
            query(
                f"sum by (account_id, region) "
                f"(rate(sesmon_cloudwatch_metrics_requested_total{{{ACCOUNT}}}[$__rate_interval]))"
                f" * 86400 * {CLOUDWATCH_USD_PER_METRIC:g}",
                "USD/day {{account_id}} {{region}}",
            ),
        )
    )
    dash = dash.with_panel(
        big_value(
            "CloudWatch cost in time range",
            "Estimated GetMetricData cost over the dashboard's time range.",
            query(
                f"sum(increase(sesmon_cloudwatch_metrics_requested_total{{{ACCOUNT}}}[$__range]))"
                f" * {CLOUDWATCH_USD_PER_METRIC:g}",
                "USD",
                instant=True,
            ),
        )
        .unit("currencyUSD")
        .decimals(4)
        .color_mode(common.BigValueColorMode.NONE)
    )
    dash = dash.with_panel(
        big_value(
            "AWS API requests in time range",
            "Requests made over the dashboard's time range.",
            query(
                f"sum(increase(sesmon_aws_api_requests_total{{{ACCOUNT}}}[$__range]))",
                "requests",
                instant=True,
            ),
        )
        .decimals(0)
        .color_mode(common.BigValueColorMode.NONE)
    )

    dash = dash.with_row(builders.Row("SQS intake"))
    outcomes = [
        ("received", "sesmon_sqs_messages_received_total"),
        ("deleted", "sesmon_sqs_messages_deleted_total"),
        ("duplicate", "sesmon_sqs_messages_duplicate_total"),
        ("control", "sesmon_sqs_messages_control_total"),
        ("invalid", "sesmon_sqs_messages_invalid_total"),
    ]
    dash = dash.with_panel(
        graph(
            "SQS messages by outcome",
            "Every received message is counted once, or recorded as a duplicate, control message or invalid.",
            MESSAGES_PER_SECOND,
            *(
                query(f"sum(rate({metric}{{{ACCOUNT}}}[$__rate_interval]))", outcome)
                for outcome, metric in outcomes
            ),
        )
    )
    dash = dash.with_panel(
        stacked(
            graph(
                "Invalid messages by reason",
                "Messages that could not be parsed as SES events, by reason.",
                MESSAGES_PER_SECOND,
                query(
                    f"sum by (reason) "
                    f"(rate(sesmon_sqs_messages_invalid_total{{{ACCOUNT}}}[$__rate_interval]))",
                    "{{reason}}",
                ),
            )
        )
    )
    dash = dash.with_panel(
        graph(
            "Event lag",
            "Processing time minus the SES event's own timestamp (quantiles over the rate interval).",
            "s",
            *(
                query(
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(sesmon_event_lag_seconds_bucket{{{ACCOUNT}}}[$__rate_interval])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ),
        )
    )
    dash = dash.with_panel(
        graph(
            "Messages per commit",
            "SQS messages stored per commit: up to 10 is one receive; under a backlog the receivers "
            "gather up to sqs.commit_messages (100) into one commit, so fewer, larger commits.",
            "short",
            query(
                f"sum(rate(sesmon_sqs_batch_messages_sum{{{ACCOUNT}}}[$__rate_interval])) / "
                f"sum(rate(sesmon_sqs_batch_messages_count{{{ACCOUNT}}}[$__rate_interval]))",
                "messages per commit",
            ),
            query(f"sum(rate(sesmon_sqs_batch_messages_count{{{ACCOUNT}}}[$__rate_interval]))", "commits/s"),
        )
    )

    dash = canary_and_actions(dash.with_row(builders.Row("Canary, actions and fleet")))

    dash = dash.with_row(builders.Row("Notifications"))
    dash = dash.with_panel(
        graph(
            "Notifications",
            "Notifications delivered, failed attempts and notifications given up (a permanent failure or "
            "too old to send), per second, by sink.",
            NOTIFICATIONS_PER_SECOND,
            query("sum by (sink) (rate(sesmon_notifications_total[$__rate_interval]))", "sent {{sink}}"),
            query(
                "sum by (sink) (rate(sesmon_notification_failures_total[$__rate_interval]))",
                "failed {{sink}}",
            ),
            query(
                "sum by (sink) (rate(sesmon_notifications_given_up_total[$__rate_interval]))",
                "given up {{sink}}",
            ),
        )
    )
    dash = dash.with_panel(
        graph(
            "Outbox pending",
            "Notifications waiting in the durable outbox for delivery, by sink.",
            "suffix: notifications",
            query("sesmon_outbox_pending", "{{sink}}"),
        )
    )
    dash = dash.with_row(builders.Row("State"))
    dash = dash.with_panel(
        graph(
            "State write failures",
            "Failed state write transactions per second (disk full, read-only, I/O error): nothing they "
            'held was acknowledged to SQS; sesmon_source_up{source="state"} is 0 meanwhile.',
            "suffix: /s",
            query("sum(rate(sesmon_state_write_failures_total[$__rate_interval]))", "failed writes"),
        )
    )
    dash = dash.with_panel(
        graph(
            "State age",
            "Time since the state began; a drop to zero means it started over (a new or quarantined file): "
            "every counter, dedup key and alert state before it is gone.",
            "s",
            query("time() - sesmon_state_created_timestamp_seconds", "state age"),
        )
    )
    return process(dash.with_row(builders.Row("Process")))


def canary_and_actions(dash: builders.Dashboard) -> builders.Dashboard:
    """The pipeline canary, guarded actions and fleet leadership (each only when configured)."""
    dash = dash.with_panel(
        big_value(
            "Canary",
            "Whether the latest canary probe's Send and Delivery events came back through the pipeline.",
            query(f"sesmon_canary_up{{{ACCOUNT}}}", "{{target}} {{configuration_set}}", instant=True),
        )
        .mappings(value_text({"0": ("failing", "red"), "1": ("ok", "green")}))
        .thresholds(steps((None, "red"), (1, "green")))
    )
    dash = dash.with_panel(
        graph(
            "Canary round trip",
            "Time from sending a canary message to both its events reaching sesmon (quantiles).",
            "s",
            *(
                query(
                    f"histogram_quantile({q}, sum by (le, target, configuration_set) "
                    f"(rate(sesmon_canary_roundtrip_seconds_bucket{{{ACCOUNT}}}[$__rate_interval])))",
                    f"p{round(q * 100)} {{{{target}}}} {{{{configuration_set}}}}",
                )
                for q in (0.5, 0.95)
            ),
        ).span(9)
    )
    dash = dash.with_panel(
        graph(
            "Time since the last canary success",
            "Seconds since a canary probe last came back in time.",
            "s",
            query(
                f"time() - sesmon_canary_last_success_timestamp_seconds{{{ACCOUNT}}}",
                "{{target}} {{configuration_set}}",
            ),
        ).span(9)
    )
    dash = dash.with_panel(
        stacked(
            graph(
                "Actions",
                "Actions decided on alert transitions per hour, by action and result (done, dry_run, "
                "refused, failed).",
                "suffix: actions/h",
                query(
                    "sum by (action, result) (increase(sesmon_actions_total[1h]))",
                    "{{action}} {{result}}",
                ),
            )
        ).span(16)
    )
    return dash.with_panel(
        big_value(
            "Fleet leader",
            "Which replica leads the fleet (polls AWS, evaluates rules, sends notifications).",
            query("sesmon_leader == 1", "{{replica}}", instant=True),
        )
        .text_mode(common.BigValueTextMode.NAME)
        .color_mode(common.BigValueColorMode.NONE)
        .span(8)
    )


def process(dash: builders.Dashboard) -> builders.Dashboard:
    """The daemon process itself, from the standard process and Python collectors."""
    dash = dash.with_panel(
        graph(
            "CPU",
            "CPU time the sesmon process uses per second (1 = one core busy).",
            "percentunit",
            query(f"rate(process_cpu_seconds_total[$__rate_interval]) {SESMON_PROCESS}", "{{instance}}"),
        ).span(8)
    )
    dash = dash.with_panel(
        graph(
            "Memory",
            "Resident memory of the sesmon process.",
            "bytes",
            query(f"process_resident_memory_bytes {SESMON_PROCESS}", "{{instance}}"),
        ).span(8)
    )
    dash = dash.with_panel(
        graph(
            "Open file descriptors",
            "File descriptors open (sockets, the state database) against the process limit.",
            "short",
            query(f"process_open_fds {SESMON_PROCESS}", "open {{instance}}"),
            query(f"process_max_fds {SESMON_PROCESS}", "limit {{instance}}"),
        ).span(8)
    )
    return dash.with_panel(
        stacked(
            graph(
                "Garbage collections",
                "Python garbage collections per second by generation.",
                "suffix: collections/s",
                query(
                    f"sum by (instance, generation) (rate(python_gc_collections_total[$__rate_interval]) "
                    f"{SESMON_PROCESS})",
                    "gen {{generation}} {{instance}}",
                ),
            )
        ).span(24)
    )


# --- rendering and checking ----------------------------------------------------------------------------

DASHBOARDS: dict[str, Callable[[], builders.Dashboard]] = {
    "sesmon-overview.json": overview,
    "sesmon-self.json": self_monitoring,
}


def _number_panels(panels: list[dict[str, Any]]) -> None:
    """Give panels stable ids and every target a refId, as Grafana would on first save."""
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
        for index, target in enumerate(panel.get("targets", [])):
            if not target.get("refId"):
                target["refId"] = chr(ord("A") + index)


def to_data(dashboard: builders.Dashboard) -> dict[str, Any]:
    """The dashboard as plain JSON data."""
    data: dict[str, Any] = json.loads(json.dumps(dashboard.build(), cls=JSONEncoder))
    _number_panels(data.get("panels", []))
    return data


def render(dashboard: builders.Dashboard) -> str:
    """The dashboard as the committed JSON text."""
    return json.dumps(to_data(dashboard), indent=2, ensure_ascii=False) + "\n"


def roundtrip_problems(data: dict[str, Any]) -> list[str]:
    """Differences after parsing ``data`` with the SDK's Dashboard model and encoding it again.

    The model drops fields it does not know and re-encodes the ones it does, so any difference is a
    field that Grafana's schema (as the SDK carries it) does not define in that place or shape.
    """
    plugins.register_default_plugins()
    parsed = model.Dashboard.from_json(data)
    again: dict[str, Any] = json.loads(json.dumps(parsed, cls=JSONEncoder))
    return list(_diff(data, again, "$"))


def _diff(left: Any, right: Any, path: str) -> Iterator[str]:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            if key not in right:
                yield f"{path}.{key}: not in the model"
            elif key not in left:
                yield f"{path}.{key}: added by the model"
            else:
                yield from _diff(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            yield f"{path}: {len(left)} items became {len(right)}"
        for index, (a, b) in enumerate(zip(left, right, strict=False)):
            yield from _diff(a, b, f"{path}[{index}]")
    elif left != right or type(left) is not type(right):
        yield f"{path}: {left!r} became {right!r}"


def panel_queries(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL expression) for every target of every panel, rows included."""
    for panel in data.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                yield f"panel {inner.get('title')!r} target {target.get('refId')}", str(target["expr"])


LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\)$")


def variable_queries(data: dict[str, Any]) -> Iterator[tuple[str, str | None, str]]:
    """(variable name, series selector or None, label) for every ``label_values`` query variable."""
    for item in data.get("templating", {}).get("list", []):
        if item.get("type") != "query":
            continue
        found = LABEL_VALUES.match(str(item["query"]).strip())
        if found is None:
            raise ValueError(f"variable {item['name']}: unsupported query {item['query']!r}")
        yield str(item["name"]), found.group("selector"), found.group("label")


GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace ``$name``/``${name}`` as Grafana does before sending a query; unknown names are an error."""
    known = {**GRAFANA_INTERVALS, **values}

    def one(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(2)
        if name not in known:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return known[name]

    return _VARIABLE.sub(one, expr)


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards, or with ``--check`` report where the committed JSON is stale or invalid."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    failures = 0
    for filename, build in DASHBOARDS.items():
        text = render(build())
        problems = roundtrip_problems(json.loads(text))
        for problem in problems:
            print(f"{filename}: {problem}", file=sys.stderr)
        failures += bool(problems)
        path = DASHBOARD_DIR / filename
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                print(f"{path}: out of date; run python grafana/generate.py", file=sys.stderr)
                failures += 1
        else:
            DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
