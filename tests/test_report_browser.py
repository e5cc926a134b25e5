"""The HTML report in a real browser: headless Chromium takes a screenshot, and the PNG (decoded with the
standard library) must not be blank and must show the market bars in their colour, longest for the
biggest market. Skipped, with the reason, where Chromium is not installed (`.ci/run` installs Debian's)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from infrasignal.report import BAR_COLOUR, render_html
from support.png import pixels
from support.reportsample import sample_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BAR_RGB = tuple(int(BAR_COLOUR[i : i + 2], 16) for i in (1, 3, 5))


def screenshot(html: Path, png: Path, profile: Path) -> bytes:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium; .ci/run does it)")
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        "--force-device-scale-factor=1", f"--user-data-dir={profile}", f"--screenshot={png}",
        "--window-size=1000,1400", html.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=90, check=False)
    assert png.exists(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    return png.read_bytes()


def bar_runs(rows: list[list[tuple[int, int, int]]]) -> list[int]:
    """Length of the longest run of bar-coloured pixels in each row that has one of 40 px or more."""
    runs = []
    for row in rows:
        best = current = 0
        for px in row:
            current = current + 1 if px == BAR_RGB else 0
            best = max(best, current)
        if best >= 40:
            runs.append(best)
    return runs


def test_html_report_renders_with_bars(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    html.write_text(render_html(sample_report()), encoding="utf-8")
    rows = pixels(screenshot(html, tmp_path / "shot.png", tmp_path / "profile"))
    assert len(rows) == 1400 and len(rows[0]) == 1000

    colours: dict[tuple[int, int, int], int] = {}
    for row in rows:
        for px in row:
            colours[px] = colours.get(px, 0) + 1
    background = max(colours.values())
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    assert background < 0.9 * 1000 * 1400, "the screenshot is (nearly) one colour"
    dark = sum(n for (r, g, b), n in colours.items() if r + g + b < 200)
    assert dark > 2000, "no text was drawn"

    runs = bar_runs(rows)
    lengths = sorted(set(runs))
    assert len(runs) >= 4 * 10, f"expected five bars about 14 px high, found rows {runs}"
    assert len(lengths) >= 3  # the markets have different sizes
    assert lengths[-1] >= 2.5 * lengths[0]  # Sydney (6 open) is about three times Tokyo (2)
