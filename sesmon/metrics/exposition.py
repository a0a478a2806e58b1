"""The /metrics body, rendered in the background when the data changed and served as ready bytes.

Rendering the registry walks every series (about a second of CPU with a thousand configuration
sets), so a scrape never does it: a background thread renders after :meth:`Exposition.changed` (at
most once per ``interval``, and never more than a tenth of the time) and at least every ``max_age``
seconds while someone scrapes, for values that move with time alone (window ratios, timestamps). A
scrape returns the last rendering, gzip-compressed when the client accepts it. When nobody has
scraped for ``idle_after`` seconds nothing is rendered.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Prometheus's text format, version 0.0.4 (what prometheus_client's own handler serves by default).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RENDER_INTERVAL = 1.0
# A rendering waits at least this many times as long as the last one took after it, so rendering
# stays under a tenth of a core however many series there are.
DUTY_FACTOR = 10.0
MAX_AGE = 10.0
IDLE_AFTER = 300.0


@dataclass(frozen=True)
class Rendered:
    """One rendering: the body, its gzip form, and how many series and bytes it holds."""

    body: bytes
    gzipped: bytes
    series: int
    rendered_at: float  # monotonic
    took: float = 0.0  # seconds the rendering took


def render(registry: CollectorRegistry, clock: Callable[[], float] = time.monotonic) -> Rendered:
    """The registry's exposition, exactly as prometheus_client renders it."""
    started = clock()
    body = generate_latest(registry)
    # Every line is a sample except the "# HELP" and "# TYPE" lines.
    series = body.count(b"\n") - body.count(b"\n#") - (1 if body.startswith(b"#") else 0)
    zipped = gzip.compress(body, compresslevel=6)
    return Rendered(body, zipped, series, started, clock() - started)


class Exposition:
    """The cached exposition of ``registry``; :meth:`start` its renderer, :meth:`close` to stop it."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        interval: float = RENDER_INTERVAL,
        max_age: float = MAX_AGE,
        idle_after: float = IDLE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.interval = interval
        self.max_age = max_age
        self.idle_after = idle_after
        self.clock = clock
        self._cond = threading.Condition()
        self._render_lock = threading.Lock()  # one rendering at a time
        self._current: Rendered | None = None
        self._dirty = True
        self._last_scrape = float("-inf")
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- what the daemon calls -------------------------------------------------------------------

    def changed(self) -> None:
        """The data behind the registry changed: render again soon (cheap; call it per batch)."""
        with self._cond:
            if not self._dirty:
                self._dirty = True
                self._cond.notify_all()

    def start(self) -> None:
        """Start the background renderer."""
        self._thread = threading.Thread(target=self._run, name="sesmon-exposition", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the renderer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    # -- what a scrape calls ---------------------------------------------------------------------

    def current(self) -> Rendered:
        """The latest rendering; the first scrape renders it here, every later one is served as is."""
        with self._cond:
            self._last_scrape = self.clock()
            current = self._current
            self._cond.notify_all()  # a renderer idle for want of scrapes may have work now
        return current if current is not None else self.refresh()

    def refresh(self) -> Rendered:
        """Render now (also what the background thread does)."""
        with self._render_lock:
            with self._cond:
                self._dirty = False
            rendered = render(self.registry, self.clock)
            with self._cond:
                self._current = rendered
            return rendered

    def latest(self) -> Rendered | None:
        """The latest rendering without counting as a scrape (None before the first)."""
        with self._cond:
            return self._current

    # -- the background renderer -----------------------------------------------------------------

    def _due_in(self, now: float) -> float | None:
        """Seconds until the next rendering is due (0 = now); None while nothing is due."""
        if now - self._last_scrape > self.idle_after:
            return None
        if self._current is None:
            return 0.0
        age = now - self._current.rendered_at
        if self._dirty:
            return max(0.0, max(self.interval, DUTY_FACTOR * self._current.took) - age)
        return max(0.0, self.max_age - age)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    due = self._due_in(self.clock())
                    if due == 0.0:
                        break
                    self._cond.wait(due)
                if self._closed:
                    return
            self.refresh()


class ExpositionCollector(Collector):
    """Emits the size of the previous rendering (the current one is being rendered), e.g.::

    sesmon_exposition_series 31520
    sesmon_exposition_bytes 4617816
    """

    def __init__(self, exposition: Callable[[], Exposition | None]) -> None:
        self._exposition = exposition

    def collect(self) -> Iterator[Metric]:
        exposition = self._exposition()
        latest = exposition.latest() if exposition is not None else None
        series = GaugeMetricFamily(
            "sesmon_exposition_series", "Samples in the previous rendering of /metrics."
        )
        size = GaugeMetricFamily(
            "sesmon_exposition_bytes", "Bytes of the previous rendering of /metrics, uncompressed."
        )
        if latest is not None:
            series.add_metric([], latest.series)
            size.add_metric([], len(latest.body))
        yield series
        yield size
