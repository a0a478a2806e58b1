"""Label values holding the first release's key separator, quotes, newlines and non-ASCII text survive a
restart byte for byte, in the state file and on /metrics, and never split into other series."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import MotoServer
from tests.reliability.sesmon_process import SesmonProcess, stored_counters, wait_for
from tests.sesgen import SesEventGenerator

# Provider groups are named in the config, so any text can be one: the hardest labels a key can hold.
AWKWARD = {
    "evil\x1fname": "sep.example",  # the first release joined key parts with \x1f
    'quo"te\\d': "quote.example",
    "two\nlines": "lines.example",
    "ünï✓ 雪": "unicode.example",
    '"]': "json.example",  # closes a JSON array early if keys were ever built by hand
}
EVENTS_PER_PROVIDER = 12


def _yaml_string(text: str) -> str:
    return orjson.dumps(text).decode()  # a JSON string is a YAML double-quoted scalar


@pytest.fixture
def sesmon(moto_server: MotoServer, tmp_path: Path) -> Iterator[SesmonProcess]:
    providers = "".join(f"  {_yaml_string(name)}: [{domain}]\n" for name, domain in AWKWARD.items())
    process = SesmonProcess(
        moto_server,
        tmp_path,
        tmp_path / "state.db",
        extra="metrics:\n  providers: true\nproviders:\n" + providers,
    )
    yield process
    process.stop()


def _to(body: str, address: str) -> str:
    envelope = orjson.loads(body)
    record = orjson.loads(envelope["Message"])
    record["mail"]["destination"] = [address]
    record["mail"]["commonHeaders"]["to"] = [address]
    envelope["Message"] = orjson.dumps(record).decode()
    return orjson.dumps(envelope).decode()


def _providers(sesmon: SesmonProcess) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, labels), value in sesmon.metrics().items():
        if name == "sesmon_recipients_by_provider_total":
            provider = dict(labels)["provider"]
            out[provider] = out.get(provider, 0.0) + value
    return out


def test_awkward_label_values_round_trip_through_a_restart(sesmon: SesmonProcess) -> None:
    gen = SesEventGenerator(
        seed=51, configuration_sets=("transactional",), start=time.time() - 600, spread=500
    )
    bodies = [
        _to(gen.event("Send").body, f"user{i}@{domain}")
        for domain in AWKWARD.values()
        for i in range(EVENTS_PER_PROVIDER)
    ]
    sesmon.start()
    sesmon.send(bodies)
    wait_for(lambda: sesmon.depth() == 0, "every event counted and deleted")
    expected = dict.fromkeys(AWKWARD, float(EVENTS_PER_PROVIDER))
    # /metrics serves an exposition rendered after each commit (at most once a second): await it.
    wait_for(
        lambda: {name: _providers(sesmon).get(name) for name in AWKWARD} == expected,
        "the exposition shows every provider's count",
    )
    before = _providers(sesmon)
    assert {name: before.get(name) for name in AWKWARD} == expected
    assert set(before) - {"other"} == set(AWKWARD)  # no split pieces such as "evil" or "name"
    assert sesmon.stop() == 0

    counters = stored_counters(sesmon.state)
    for name in AWKWARD:
        assert counters[("providers", "transactional", name, "send")] == EVENTS_PER_PROVIDER
    assert all(len(key) == 4 for key in counters if key[0] == "providers")

    sesmon.start()  # a restart: the same series, the same values, from the state file
    assert _providers(sesmon) == before
