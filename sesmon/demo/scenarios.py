"""Demo scenarios (pure): how outcome rates and the AWS endpoint behave over the demo's timeline."""

from __future__ import annotations

from dataclasses import dataclass

from sesmon.demo.traffic import Rates, SetProfile, with_rates


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named storyline; times are seconds after the traffic started."""

    name: str
    description: str
    spike_set: str | None = None
    spike_at: float | None = None
    spike: tuple[tuple[str, float], ...] = ()  # Rates fields replaced during the spike
    outage: tuple[float, float] | None = None  # the AWS endpoint answers 503 from .. until
    enforcement_status: str = "HEALTHY"
    pause: bool = False  # the bounce rule pauses the spiking set (actions in enforce mode)

    def rates(self, profile: SetProfile, elapsed: float) -> Rates:
        """Outcome rates of ``profile`` at ``elapsed`` seconds."""
        if self.spiking(profile.name, elapsed):
            return with_rates(profile.rates, **dict(self.spike))
        return profile.rates

    def spiking(self, configuration_set: str, elapsed: float) -> bool:
        """True while ``configuration_set`` is in its spike."""
        return self.spike_set == configuration_set and self.spike_at is not None and elapsed >= self.spike_at

    def outage_active(self, elapsed: float) -> bool:
        """True while the AWS endpoint is down."""
        return self.outage is not None and self.outage[0] <= elapsed < self.outage[1]


SPIKE_AT = 20.0
# Long enough that SesSourceDown (for: 15s, evaluated every 5 s, dispatched every 5 s) is delivered
# while the endpoint is still failing, with room to spare on a busy machine.
OUTAGE_FOR = 60.0

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "healthy sending on both configuration sets"),
        Scenario(
            "bounce-spike",
            f"after {SPIKE_AT:.0f} s, 'marketing' starts mailing a stale list segment: 8% hard bounces",
            spike_set="marketing",
            spike_at=SPIKE_AT,
            spike=(("hard_bounce", 0.08),),
        ),
        Scenario(
            "complaint-spike",
            f"after {SPIKE_AT:.0f} s, a 'marketing' campaign draws spam complaints from 1% of recipients",
            spike_set="marketing",
            spike_at=SPIKE_AT,
            spike=(("complaint", 0.01),),
        ),
        Scenario(
            "pause",
            f"after {SPIKE_AT:.0f} s, 'marketing' mails a stale list (20% hard bounces); sesmon pauses "
            "the set in SES (actions in enforce mode) and sending stops until `sesmon resume`",
            spike_set="marketing",
            spike_at=SPIKE_AT,
            spike=(("hard_bounce", 0.2),),
            pause=True,
        ),
        Scenario(
            "outage",
            f"from {SPIKE_AT:.0f} s to {SPIKE_AT + OUTAGE_FOR:.0f} s the AWS endpoint answers 503, then "
            "recovers; SES keeps sending and the queue drains afterwards",
            outage=(SPIKE_AT, SPIKE_AT + OUTAGE_FOR),
        ),
    )
}
DEFAULT_SCENARIO = "bounce-spike"
