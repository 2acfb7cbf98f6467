"""The HTML report at 1,400 px in a real browser (headless Chromium): it fits the page width, the grid scrolls
inside it, and the screenshot linked from the README is regenerated from the same code.

Skipped when no `chromium` binary is installed (`make install` installs Debian's package where apt is available).
Set FTSIM_UPDATE_SCREENSHOTS=1 to rewrite docs/images/report-1400.png.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.planning.compare import compare
from ftsim.pricing.planning.whatif import baseline_input, evaluate, load_scenario
from ftsim.pricing.reports.report import render

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1400

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: apt-get install -y chromium "
                                                          "(make install does it) to take the report screenshot")


def _report(tmp_path: Path) -> Path:
    scenario = load_scenario(ROOT / "fixtures" / "scenarios" / "support-bot.toml")
    scenario = scenario.model_copy(update={"today": __import__("datetime").date(2026, 12, 5)})
    catalog = load_catalog()
    grid = evaluate(scenario, catalog=catalog)
    result = compare(baseline_input(scenario), catalog=catalog)
    path = tmp_path / "report.html"
    path.write_text(render("html", scenario, grid, result, result.warnings, catalog), encoding="utf-8")
    return path


def _chromium(*args: str) -> subprocess.CompletedProcess:
    # a safety limit so a hung browser cannot hang the suite; not a speed assertion
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--window-size={WIDTH},2400", *args], capture_output=True, timeout=180, check=False)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_report_fits_1400_px_and_the_grid_scrolls_inside(tmp_path):
    report = _report(tmp_path)
    probe = tmp_path / "probe.html"  # a test-only copy that reports the page's layout widths in its title
    probe.write_text(report.read_text(encoding="utf-8").replace(
        "</body>", "<script>var g=document.getElementById('grid');document.title=[document.documentElement."
        "scrollWidth, g.clientWidth, g.scrollWidth].join(',')</script></body>"), encoding="utf-8")
    dom = _chromium("--dump-dom", probe.as_uri()).stdout.decode("utf-8", "replace")
    page_width, grid_box, grid_content = (int(n) for n in re.search(r"<title>(\d+),(\d+),(\d+)</title>", dom).groups())
    assert page_width <= WIDTH  # nothing runs off the page
    assert grid_box <= WIDTH and grid_content > grid_box  # the wide grid scrolls inside its box


def test_screenshot_at_1400_px(tmp_path):
    report = _report(tmp_path)
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", report.as_uri())
    assert shot.exists(), "chromium wrote no screenshot"
    assert _png_size(shot) == (WIDTH, 2400)
    if os.environ.get("FTSIM_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "images" / "report-1400.png")
