"""Pydantic models of the sesmon YAML configuration: immutable, unknown keys rejected, cross-field rules.

One module on purpose, although it passes 400 lines: it is the schema of one YAML document, section
by section in the document's own order, and the cross-field rules in ``Config`` need every section.
Loading (YAML, ``${VAR}``, ``*_file`` secrets, error lines) lives in ``config_loader.py``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from sesmon import globs
from sesmon.durations import parse_duration
from sesmon.signals import ALL_SIGNALS, RATE_SIGNALS, WINDOWED_SIGNALS

Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""A duration written as ``30s``/``5m``/``24h``/``14d``, held as seconds."""


def _window_name(value: str) -> str:
    parse_duration(value)
    return value.strip()


WindowName = Annotated[str, AfterValidator(_window_name)]
"""A sliding-window length, kept as written because it becomes the ``window`` label."""


def _matching(pattern: str, problem: str) -> AfterValidator:
    """A validator accepting the strings ``pattern`` matches; ``problem`` may name ``{value!r}``."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(problem.format(value=value))
        return value

    return AfterValidator(check)


Name = Annotated[
    str,
    _matching(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        "must start with a letter or digit and use only letters, digits, '_', '.', '-'",
    ),
]
"""A target or sink name: it becomes a label value and part of job names."""
Region = Annotated[
    str, _matching(r"^[a-z]{2}(-[a-z]+)+-\d$", "{value!r} is not an AWS region name such as us-east-1")
]
RoleArn = Annotated[
    str,
    _matching(
        r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
        "must be an IAM role ARN such as arn:aws:iam::123456789012:role/sesmon",
    ),
]
RuleName = Annotated[
    str, _matching(r"^[A-Z][A-Za-z0-9]*$", "{value!r} must be CamelCase, e.g. MarketingBounceRateHigh")
]


class Strict(BaseModel):
    """Base for every config section: frozen and with unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _secret_http_url(value: SecretStr) -> SecretStr:
    parsed = urlparse(value.get_secret_value())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        # The value may hold a token, so the message never repeats it.
        raise ValueError("must be an http:// or https:// URL")
    return value


SecretUrl = Annotated[SecretStr, AfterValidator(_secret_http_url)]


class SqsConfig(Strict):
    """Where SES events arrive and how they are drained."""

    queue_url: HttpUrl
    receivers: int = Field(default=2, ge=1, le=32)
    wait_time_seconds: int = Field(default=20, ge=0, le=20)
    visibility_timeout_seconds: int = Field(default=60, ge=10, le=43200)
    on_invalid: Literal["keep", "delete"] = "keep"
    # Under a backlog a receiver gathers full receives up to this many messages before their one
    # commit (and its fsync): the per-commit cost is most of the pipeline's at 10 per commit.
    commit_messages: int = Field(default=100, ge=10, le=1000)

    @field_validator("queue_url")
    @classmethod
    def _queue_path(cls, value: str) -> str:
        parts = _queue_path_parts(value)
        if len(parts) != 2 or not parts[0].isdigit():
            raise ValueError("must look like https://sqs.<region>.amazonaws.com/<account-id>/<queue-name>")
        return value

    @property
    def account_id(self) -> str:
        """The queue owner's account id, taken from the queue URL path."""
        return _queue_path_parts(self.queue_url)[0]

    @property
    def queue_name(self) -> str:
        """The queue's name, the last path segment of the queue URL."""
        return _queue_path_parts(self.queue_url)[1]


def _queue_path_parts(url: str) -> list[str]:
    return [p for p in urlparse(url).path.split("/") if p]


class CloudWatchConfig(Strict):
    """Polling of the AWS/SES Reputation.* metrics."""

    enabled: bool = True
    interval: Seconds = 300.0
    # CloudWatch publishes SES reputation datapoints late; asking for "now" returns gaps.
    delay: Seconds = 600.0

    @field_validator("interval")
    @classmethod
    def _at_least_a_minute(cls, value: float) -> float:
        if value < 60:
            raise ValueError("must be at least 1m (CloudWatch's finest period for these metrics)")
        return value


class AccountConfig(Strict):
    """Polling of SES account state: enforcement, sandbox, quota, configuration sets."""

    enabled: bool = True
    interval: Seconds = 300.0


class IdentitiesConfig(Strict):
    """Polling of SES identities (verification, DKIM, MAIL FROM) and event routing."""

    enabled: bool = True
    interval: Seconds = 900.0


SIMULATOR_SUCCESS = "success@simulator.amazonses.com"


class CanaryConfig(Strict):
    """The pipeline canary: a message to the SES mailbox simulator per set, its events awaited."""

    configuration_sets: tuple[str, ...]
    from_address: str  # a verified identity of the account (an address or one at a verified domain)
    interval: Seconds = 300.0
    deadline: Seconds = 120.0
    to_address: str = SIMULATOR_SUCCESS

    @field_validator("configuration_sets")
    @classmethod
    def _sets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one configuration set to probe")
        for name in value:
            if not re.match(r"^[A-Za-z0-9_-]{1,64}$", name):
                raise ValueError(f"{name!r} is not a configuration set name (1-64 of A-Z a-z 0-9 _ -)")
        return value

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("to_address")
    @classmethod
    def _simulator(cls, value: str) -> str:
        # Only simulator traffic stays out of the AWS-comparable rates (and costs no reputation).
        if not value.endswith("@simulator.amazonses.com"):
            raise ValueError("must be an SES mailbox simulator address (…@simulator.amazonses.com)")
        return value

    @model_validator(mode="after")
    def _deadline(self) -> CanaryConfig:
        if self.deadline >= self.interval:
            raise ValueError("deadline must be shorter than interval (one probe at a time per set)")
        return self


# SES event types an event destination can publish (SES v2 spelling); sesmon counts them all.
SES_EVENT_TYPES = (
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "OPEN",
    "CLICK",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
    "SUBSCRIPTION",
)
_AWS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RULE_NAME_CHARS = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _aws_name(value: str) -> str:
    if not _AWS_NAME.match(value):
        raise ValueError(f"{value!r} must be 1-64 letters, digits, '_' or '-'")
    return value


AwsName = Annotated[str, AfterValidator(_aws_name)]


class EventsConfig(Strict):
    """How SES events reach the queue: what ``sesmon setup`` builds and ``sesmon doctor`` checks."""

    via: Literal["sns", "eventbridge"] = "sns"
    # SNS: the topic every configuration set publishes to, subscribed by the queue.
    topic_name: AwsName = "sesmon-ses-events"
    raw_delivery: bool = False
    # EventBridge: the bus SES publishes to and the rule that sends SES events to the queue.
    event_bus: str = "default"
    rule_name: str = "sesmon-ses-events"
    # The dead-letter queue (default: the queue's name + "-dlq") and when a message moves there.
    dlq_name: AwsName | None = None
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    destination_name: AwsName = "sesmon"
    # The sets that get an event destination; default: the target's literal configuration_sets.
    configuration_sets: tuple[AwsName, ...] | None = None
    event_types: tuple[str, ...] = SES_EVENT_TYPES
    # Create configuration sets that do not exist yet (with reputation metrics on).
    create_configuration_sets: bool = True

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in SES_EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {', '.join(SES_EVENT_TYPES)}")
        if not value:
            raise ValueError("at least one event type is required")
        return value

    @field_validator("rule_name", "event_bus")
    @classmethod
    def _rule_chars(cls, value: str) -> str:
        if not _RULE_NAME_CHARS.match(value):
            raise ValueError(f"{value!r} must be 1-64 letters, digits, '.', '_' or '-'")
        return value


class TargetConfig(Strict):
    """One AWS account and region to monitor."""

    name: Name
    region: Region
    role_arn: RoleArn | None = None
    external_id: str | None = None
    endpoint_url: HttpUrl | None = None
    sqs: SqsConfig | None = None
    events: EventsConfig = EventsConfig()
    cloudwatch: CloudWatchConfig = CloudWatchConfig()
    account: AccountConfig = AccountConfig()
    identities: IdentitiesConfig = IdentitiesConfig()
    configuration_sets: tuple[str, ...] = ("*",)
    max_configuration_sets: int = Field(default=100, ge=1, le=10000)
    canary: CanaryConfig | None = None

    @field_validator("sqs", mode="before")
    @classmethod
    def _sqs_given(cls, value: object) -> object:
        # `sqs:` with nothing under it reads as null, which would silently mean "no ingestion".
        if value is None:
            raise ValueError("is empty: give queue_url, or remove the sqs key to not read events")
        return value

    def allows_configuration_set(self, name: str) -> bool:
        """True when ``name`` matches one of the configured globs."""
        return globs.matches_any(name, self.configuration_sets)

    @model_validator(mode="after")
    def _canary_needs_queue(self) -> TargetConfig:
        if self.canary is not None and self.sqs is None:
            raise ValueError("canary: the probes' events come back through sqs: configure sqs too")
        return self


class VolumeWindowConfig(Strict):
    """AWS judges reputation over a representative volume, not a fixed time: mirror that."""

    recipients: int = Field(default=10_000, ge=100)
    max_age: Seconds = 14 * 86400.0


class StateConfig(Strict):
    """Where state survives restarts: an SQLite file (one process) or PostgreSQL (a fleet)."""

    # sqlite: the embedded file at ``path``; postgresql: shared by a fleet (``dsn``); memory: tests.
    backend: Literal["sqlite", "postgresql", "memory"] = "sqlite"
    path: str = "sesmon-state.db"
    # A corrupt or unreadable file: fail (exit 1 naming the file and the fix), or move it aside and
    # start fresh (every counter, alert and dedup key begins again).
    on_corrupt: Literal["fail", "quarantine"] = "fail"
    # libpq connection string or URL; a secret (give dsn_file to read it from a file).
    dsn: SecretStr | None = None
    pool_size: Annotated[int, Field(ge=2, le=64)] = 4
    # SQS keeps messages up to 4 days by default, so a redelivery can arrive that late.
    dedup_ttl: Seconds = 4 * 86400.0
    # Fleet leadership: a leader that stops renewing is replaced within two of these.
    lease_ttl: Annotated[float, BeforeValidator(parse_duration), Field(ge=2.0, le=600.0)] = 15.0
    # How often each replica reloads the windows and counters the other replicas committed.
    refresh_interval: Annotated[float, BeforeValidator(parse_duration), Field(gt=0.0, le=300.0)] = 5.0
    # This process's name in a fleet (the ``replica`` label); defaults to the host name.
    replica: (
        Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] | None
    ) = None

    @model_validator(mode="after")
    def _dsn_for_postgresql(self) -> StateConfig:
        if self.backend == "postgresql" and self.dsn is None:
            raise ValueError("state.backend postgresql needs state.dsn (or state.dsn_file)")
        if self.backend != "postgresql" and self.dsn is not None:
            raise ValueError("state.dsn is only used with state.backend: postgresql")
        return self

    def resolved_dsn(self) -> str:
        """The connection string (a secret: never log it)."""
        if self.dsn is None:
            raise ValueError("state.dsn is not set")
        return self.dsn.get_secret_value()


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT with a port from 0 to 65535")
    host = host.strip("[]")
    if not host:
        raise ValueError(f"{value!r} has no host; use 0.0.0.0:PORT to listen everywhere")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", host):
            raise ValueError(f"{value!r} has an invalid host") from None
    return value


class ServerConfig(Strict):
    """The HTTP endpoint serving /metrics, /healthz, /readyz and the status page."""

    listen: Annotated[str, AfterValidator(_listen)] = "0.0.0.0:9469"
    # Requests run on this many worker threads; parsing and idle connections need none.
    threads: int = Field(default=4, ge=1, le=64)
    # Open connections beyond this wait in the listen backlog (1,024) instead of costing memory.
    max_connections: int = Field(default=2000, ge=16, le=100_000)
    # A request's line and headers must arrive within header_timeout; an idle connection closes
    # after idle_timeout.
    header_timeout: Seconds = Field(default=10.0, gt=0)
    idle_timeout: Seconds = Field(default=30.0, gt=0)

    @property
    def host(self) -> str:
        """Host part of ``listen`` without IPv6 brackets."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """Port part of ``listen``."""
        return int(self.listen.rpartition(":")[2])


class MetricsConfig(Strict):
    """Detailed per-configuration-set breakdowns on /metrics, off by default so that a set costs a
    bounded number of series (docs/ARCHITECTURE.md lists them); counting is the same either way."""

    # Off, sesmon_events_total counts per target: a set's recipient counts (sesmon_recipients_total)
    # are what its rates and dashboards read, and per set the event counts would double its series.
    events_per_set: bool = False  # the configuration_set label of sesmon_events_total
    providers: bool = False  # sesmon_recipients_by_provider_total
    # A bounces, complaints or delays family with no label of its own beside configuration_set
    # would repeat sesmon_recipients_total{event_type=...}, so without its detail it is left out.
    bounce_types: bool = False  # sesmon_bounces_total (by bounce type)
    bounce_subtypes: bool = False  # its bounce_subtype label too (implies bounce_types)
    complaint_types: bool = False  # the feedback_type label of sesmon_complaints_total
    complaint_subtypes: bool = False  # the complaint_subtype label of sesmon_complaints_total
    delay_types: bool = False  # sesmon_delivery_delays_total (by delay type)

    @property
    def exports_bounce_types(self) -> bool:
        """sesmon_bounces_total is exported, by bounce type (a subtype means nothing without it)."""
        return self.bounce_types or self.bounce_subtypes


class LoggingConfig(Strict):
    """Log level and format."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"


class DnsConfig(Strict):
    """DNS authentication checks (SPF, DMARC, DKIM, MAIL FROM MX) of verified domain identities."""

    enabled: bool = True
    interval: Seconds = 3600.0
    nameservers: tuple[str, ...] = ()
    timeout: Seconds = 5.0

    @field_validator("nameservers")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            host, _, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address (optionally IP:PORT)") from None
            if port and not port.isdigit():
                raise ValueError(f"{item!r} has an invalid port")
        return value


DEFAULT_PROVIDERS: dict[str, tuple[str, ...]] = {
    "gmail": ("gmail.com", "googlemail.com"),
    "microsoft": ("outlook.com", "hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "outlook.fr"),
    "yahoo": ("yahoo.com", "ymail.com", "aol.com", "yahoo.co.uk", "yahoo.fr", "rocketmail.com"),
    "apple": ("icloud.com", "me.com", "mac.com"),
}

Severity = Literal["info", "warning", "critical"]
ACTIONS = ("pause_configuration_set", "pause_account")
Action = Literal["pause_configuration_set", "pause_account"]


def _for_duration(value: object) -> float:
    # "for: 0s" is a natural way to say "fire at once"; the duration parser rejects zero.
    # (A field_validator(mode="before") runs before Seconds' own parser, so it cannot do this.)
    if value in ("0", "0s", "0m", 0) or (isinstance(value, float) and value == 0.0):
        return 0.0
    return parse_duration(value)


ForDuration = Annotated[float, BeforeValidator(_for_duration)]


class RuleConfig(Strict):
    """One alert rule: a signal, thresholds, guards and presentation templates."""

    name: RuleName
    signal: str
    window: str | None = None
    warning: float | None = None
    critical: float | None = None
    min_recipients: int = Field(default=0, ge=0)
    min_events: int = Field(default=0, ge=0)
    for_: ForDuration = Field(default=0.0, alias="for")
    configuration_sets: tuple[str, ...] = ("*",)
    targets: tuple[str, ...] = ("*",)
    severity: Severity = "warning"
    summary: str | None = None
    description: str | None = None
    runbook_url: str | None = None
    # What to do in AWS when the alert fires, under the guards of alerts.actions.
    actions: tuple[Action, ...] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("warning", "critical")
    @classmethod
    def _fraction(cls, value: float | None) -> float | None:
        # Every rate signal is a fraction; "warning: 5" meant as 5% would otherwise never fire.
        if value is not None and not 0 <= value <= 1:
            raise ValueError(f"{value:g} is outside [0, 1]: thresholds are fractions, 0.05 means 5%")
        return value

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if value not in ALL_SIGNALS:
            raise ValueError(f"unknown signal {value!r}; known signals: {', '.join(ALL_SIGNALS)}")
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> RuleConfig:
        if self.signal in RATE_SIGNALS:
            if self.warning is None and self.critical is None:
                raise ValueError(f"signal {self.signal} needs a warning and/or critical threshold")
            if self.warning is not None and self.critical is not None and self.warning > self.critical:
                raise ValueError("warning threshold must not be above the critical threshold")
        elif self.warning is not None or self.critical is not None:
            raise ValueError(f"signal {self.signal} is a condition, not a rate: use severity, not thresholds")
        if self.signal in WINDOWED_SIGNALS and self.window is None:
            raise ValueError(f"signal {self.signal} needs a window (one of 'windows' or 'volume')")
        if self.signal not in WINDOWED_SIGNALS and (self.min_recipients or self.min_events):
            # Only sesmon's own counts carry a volume: elsewhere a guard would silence the rule.
            raise ValueError(f"signal {self.signal} has no volume: min_recipients/min_events do not apply")
        return self


class SinkConfig(Strict):
    """Where notifications go; secrets are SecretStr so they never print."""

    name: Name
    type: Literal["webhook", "slack", "pagerduty", "alertmanager"]
    url: SecretUrl | None = None
    secret: SecretStr | None = None
    routing_key: SecretStr | None = None
    min_severity: Severity = "warning"
    match: dict[str, str] = Field(default_factory=dict)
    timeout: Seconds = 10.0

    @model_validator(mode="after")
    def _required_fields(self) -> SinkConfig:
        if self.type == "pagerduty":
            if self.routing_key is None:
                raise ValueError("a pagerduty sink needs routing_key (or routing_key_file)")
        elif self.url is None:
            raise ValueError(f"a {self.type} sink needs url (or url_file)")
        if self.secret is not None and self.type != "webhook":
            raise ValueError("secret (HMAC signing) applies to webhook sinks only")
        return self


class ActionsConfig(Strict):
    """The guards every action of a rule passes before sesmon changes anything in AWS."""

    # dry_run notifies what it would do and changes nothing; only enforce calls AWS.
    mode: Literal["dry_run", "enforce"] = "dry_run"
    min_severity: Severity = "critical"
    # Sent recipients behind the rate (the alert's volume) below which nothing is paused.
    min_recipients: int = Field(default=1000, ge=0)
    # Configuration-set globs that may be paused; empty: none may.
    configuration_sets: tuple[str, ...] = ()
    # Pauses per target in any 24 hours, and the least time between two pauses of one set.
    max_per_day: int = Field(default=1, ge=1)
    cooldown: Seconds = 6 * 3600.0
    # Pausing the whole account stops every sender in it: refused unless allowed here.
    allow_account_pause: bool = False

    def allows_configuration_set(self, name: str) -> bool:
        """True when ``name`` matches one of the allow-list globs."""
        return globs.matches_any(name, self.configuration_sets)


class AlertsConfig(Strict):
    """Alert rules, notification sinks and delivery policy."""

    actions: ActionsConfig = ActionsConfig()
    rules: tuple[RuleConfig, ...] = ()
    sinks: tuple[SinkConfig, ...] = ()
    repeat_interval: Seconds = 4 * 3600.0
    # Resolve only below this fraction of the threshold, so a rate hovering at the line does not flap.
    resolve_ratio: float = Field(default=0.9, gt=0, le=1)
    evaluation_interval: Seconds = 15.0
    give_up_after: Seconds = 24 * 3600.0
    # A firing label set that stops being observed (e.g. a configuration set deleted) resolves after this.
    resolve_missing_after: Seconds = 300.0

    @model_validator(mode="after")
    def _unique(self) -> AlertsConfig:
        _reject_duplicates([r.name for r in self.rules], "rule")
        _reject_duplicates([s.name for s in self.sinks], "sink")
        for index, rule in enumerate(self.rules):
            if "pause_account" in rule.actions and not self.actions.allow_account_pause:
                raise ValueError(
                    f"rules[{index}].actions: pause_account needs alerts.actions.allow_account_pause: true"
                )
        return self


def _reject_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} name {name!r}")
        seen.add(name)


class Config(Strict):
    """The whole sesmon configuration."""

    targets: tuple[TargetConfig, ...]
    windows: tuple[WindowName, ...] = ("1h", "24h")
    volume_window: VolumeWindowConfig = VolumeWindowConfig()
    providers: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_PROVIDERS))
    dns: DnsConfig = DnsConfig()
    state: StateConfig = StateConfig()
    server: ServerConfig = ServerConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    alerts: AlertsConfig = AlertsConfig()

    @field_validator("targets")
    @classmethod
    def _some_targets(cls, value: tuple[TargetConfig, ...]) -> tuple[TargetConfig, ...]:
        # Checked here rather than with min_length, which pydantic also reports when an item is invalid.
        if not value:
            raise ValueError("at least one target is required")
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> Config:
        # Errors raised here carry their own key path: pydantic locates model-level errors at the root.
        try:
            _reject_duplicates([t.name for t in self.targets], "target")
        except ValueError as exc:
            raise ValueError(f"targets: {exc}") from None
        if len({parse_duration(w) for w in self.windows}) != len(self.windows):
            raise ValueError("windows: window lengths must be distinct")
        for window in self.windows:
            if parse_duration(window) > self.volume_window.max_age:
                raise ValueError(f"windows: window {window} is longer than volume_window.max_age")
        if "other" in self.providers:
            raise ValueError("providers: 'other' is reserved for domains outside the map")
        for index, rule in enumerate(self.alerts.rules):
            if rule.window is not None and rule.window != "volume" and rule.window not in self.windows:
                raise ValueError(
                    f"alerts.rules[{index}].window: {rule.window!r} is not one of windows "
                    f"({', '.join(self.windows)}) or 'volume'"
                )
        return self

    @property
    def window_seconds(self) -> dict[str, float]:
        """Window label → length in seconds, in configured order."""
        return {w: parse_duration(w) for w in self.windows}
