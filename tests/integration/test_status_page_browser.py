"""The status page in a real browser: Debian's chromium, headless, driven through chromium-driver.

The fixture runs ``sesmon demo`` (bounce spike) until its marketing alert has fired, then serves the
state it left with ``sesmon run`` on loopback. The demo's embedded AWS is gone by then, so nothing
new is counted and the page's numbers hold still: they must equal what ``/metrics`` says. The test
checks those numbers, the colours against the rules' levels, the sparklines, that the page refreshes
itself without reloading, that the console stays clean and that a phone-sized window does not scroll
sideways; it saves screenshots under ``test-artifacts/`` (gitignored) and prints their paths.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from sesmon.statuspage import REFRESH_SECONDS, percent
from tests.conftest import environment_without_aws
from tests.integration.test_demo import _command, _free_port
from tests.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# The spike starts at 20 s; BounceRateHigh (for: 10s, evaluated every 5 s) has fired well before 55 s.
DEMO_SECONDS = 55

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@dataclass
class Served:
    """``sesmon run`` serving the demo's state."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("status-page")
    demo_dir = work / "demo"
    demo = subprocess.run(
        [*_command(), "demo", "--duration", str(DEMO_SECONDS), "--listen", "127.0.0.1:0", "--dir", demo_dir],
        capture_output=True,
        text=True,
        env=environment_without_aws(),
        cwd=work,
        timeout=DEMO_SECONDS + 120,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (
        "FIRING   critical BounceRateHigh" in demo.stdout or "FIRING   warning  BounceRateHigh" in demo.stdout
    )
    port = _free_port()
    log = work / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *_command(),
                "run",
                "--config",
                str(demo_dir / "sesmon.yaml"),
                "--listen",
                f"127.0.0.1:{port}",
                "--log-level",
                "error",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment_without_aws(),
            cwd=work,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "sesmon run never answered /healthz\n" + log.read_text()
            time.sleep(0.2)
        yield Served(url, process, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium = require_tool("chromium")
    chromedriver = require_tool("chromedriver")
    profile = tempfile.mkdtemp(prefix="sesmon-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _rate_table(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """Every row of the rates table as {header: (text, class, data-value)}."""
    rows: list[dict[str, Any]] = driver.execute_script(
        """
        const table = [...document.querySelectorAll('table')].find(
            t => t.caption && t.caption.textContent.startsWith('AWS-comparable rates'));
        const heads = [...table.tHead.rows[0].cells].map(c => c.textContent);
        return [...table.tBodies[0].rows].map(r => Object.fromEntries([...r.cells].map(
            (c, i) => [heads[i], [c.textContent, c.className, c.dataset.value ?? null]])));
        """
    )
    return rows


def _save(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path))
    print(f"status page screenshot: {path}")
    return path


def test_status_page_in_chromium(served: Served, browser: webdriver.Chrome) -> None:
    browser.get(served.url + "/")
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "main time[data-taken]"))
    metrics = served.metrics()

    def metric(name: str, **labels: str) -> float | None:
        # Series may carry more labels (e.g. where the denominator comes from); these must match.
        wanted = set(labels.items())
        found = [value for (n, have), value in metrics.items() if n == name and wanted <= have]
        assert len(found) <= 1, (name, labels)
        return found[0] if found else None

    # The numbers shown are the exported ones, in the page's one percent format.
    rows = _rate_table(browser)
    assert {r["configuration set"][0] for r in rows} >= {"marketing", "transactional"}
    windows = ("1h", "24h", "volume")
    for row in rows:
        # The window gauges carry the target and set; the target's account is on target_info.
        labels = {"target": row["target"][0], "configuration_set": row["configuration set"][0]}
        for window in windows:
            sent = metric("sesmon_window_sent_recipients", **labels, window=window)
            assert sent is not None, (labels, window)
            assert row[f"sent {window}"][0] == f"{sent:.0f}", (labels, window)
            for rate in ("bounce", "complaint"):
                exported = metric(f"sesmon_window_{rate}_ratio", **labels, window=window)
                text, _css, raw = row[f"{rate} {window}"]
                if sent:
                    assert exported is not None
                    assert text == percent(exported), (labels, window, rate)
                    assert float(raw) == pytest.approx(exported, rel=1e-12)
                else:
                    assert text == "-"

    # Coloured against the demo's BounceRateHigh (warning 2%, critical 5%): marketing's hard bounces
    # (8% since the spike) are past the warning line over the last hour; transactional is fine.
    marketing = next(r for r in rows if r["configuration set"][0] == "marketing")
    value = float(marketing["bounce 1h"][2])
    expected = "critical" if value >= 0.05 else "warning" if value >= 0.02 else "ok"
    assert expected != "ok", value
    assert marketing["bounce 1h"][1] == f"num lvl-{expected}"
    transactional = next(r for r in rows if r["configuration set"][0] == "transactional")
    assert transactional["bounce 1h"][1] == "num lvl-ok"
    colours = {
        "ok": "rgba(230, 244, 230, 1)",
        "warning": "rgba(255, 241, 204, 1)",
        "critical": "rgba(249, 214, 213, 1)",
    }
    cell = browser.find_element(By.CSS_SELECTOR, f"td.lvl-{expected}")
    assert cell.value_of_css_property("background-color") == colours[expected]
    assert "warning at 2.00%, critical at 5.00% (BounceRateHigh)" in (cell.get_attribute("title") or "")

    # Sparklines: two per configuration set, drawn from the day's buckets, with the warning level.
    sparks = browser.find_elements(By.CSS_SELECTOR, "svg.spark")
    assert len(sparks) == 2 * len(rows)
    bounce_marketing = browser.execute_script(
        """
        const row = [...document.querySelectorAll('tr')].find(
            r => r.cells[1] && r.cells[1].textContent === 'marketing' && r.querySelector('svg.spark'));
        const svg = row.querySelector('svg.spark.bounce');
        return [svg.getAttribute('aria-label'), svg.querySelectorAll('polyline,circle').length,
                svg.querySelectorAll('line.level').length];
        """
    )
    assert bounce_marketing[0].startswith("bounce rate per 15 minutes over the last 24 h: highest ")
    assert bounce_marketing[1] >= 1
    assert bounce_marketing[2] == 1

    # The firing alert is listed with its value as a percentage.
    firing = browser.find_element(By.XPATH, "//h3[text()='Firing alerts']/following-sibling::div//tbody")
    assert "BounceRateHigh" in firing.text
    assert "%" in firing.text

    _save(browser, "status-page.png")

    # It refreshes itself: the data's timestamp moves on, the document is never reloaded.
    browser.execute_script("window.sesmonMarker = 'still here';")
    first = browser.find_element(By.CSS_SELECTOR, "main time[data-taken]").get_attribute("data-taken")
    WebDriverWait(browser, REFRESH_SECONDS * 4).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "main time[data-taken]").get_attribute("data-taken") != first
        )
    )
    assert browser.execute_script("return window.sesmonMarker") == "still here"
    assert browser.find_element(By.ID, "age").text.endswith("s ago")

    # A phone-sized window: the page itself never scrolls sideways (wide tables scroll in place).
    browser.set_window_size(390, 844)
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    _save(browser, "status-page-narrow.png")

    logs: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    problems = [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")]
    assert problems == []
