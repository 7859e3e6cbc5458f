"""The HTML report in a real browser (headless Chromium): no console errors, nothing needs the network, and it
draws something. Skipped when Chromium is missing, unless IRSYNTH_REQUIRE_BROWSER=1 (as in CI)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import matplotlib.image
import pytest
from browser import BrowserError, chromium_path, render


@pytest.fixture(scope="module")
def browser() -> str:
    path = chromium_path()
    if path is None:
        reason = "headless Chromium not found on PATH (Debian: apt-get install chromium)"
        if os.environ.get("IRSYNTH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and IRSYNTH_REQUIRE_BROWSER=1 requires it")
        pytest.skip(reason)
    return path


def assert_drawn(png: Path, width: int, height: int) -> None:
    """The screenshot exists, has the requested size and is not one flat colour."""
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].var() > 0, f"{png} is blank"


PAGE = '<!doctype html><html><body style="background:#fff"><h1 style="color:#0072B2">Page</h1>{}</body></html>'
CASES = {
    "clean": ('<p>Fine.</p><script>console.log("log"); console.info("info"); console.warn("warn")</script>', []),
    "console.error": ('<script>console.error("boom")</script>', ["console.error: boom"]),
    "exception": ('<script>throw new Error("x")</script>', ["exception: Uncaught Error: x"]),
    "missing image": ('<img src="missing.png">', ["failed to load", "missing.png", "ERR_FILE_NOT_FOUND"]),
    "network": ('<img src="https://example.org/logo.png">', ["network request", "https://example.org/logo.png"]),
    "too wide": ('<div style="width:2000px">wide</div>', ["overflows sideways"]),
}


@pytest.mark.parametrize("body, expected", CASES.values(), ids=CASES.keys())
def test_render_reports_page_errors(browser, tmp_path, body, expected):
    page = tmp_path / "page.html"
    page.write_text(PAGE.format(body))
    errors = render(page, tmp_path / "page.png", width=400, height=300)
    if expected:
        assert errors and all(text in errors[0] for text in expected), errors
    else:
        assert errors == []
    assert_drawn(tmp_path / "page.png", 400, 300)


def test_render_says_clearly_when_chromium_is_missing(monkeypatch, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(PAGE.format(""))
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert chromium_path() is None
    with pytest.raises(BrowserError, match="Chromium not found"):
        render(page, tmp_path / "page.png")


@pytest.fixture
def report_html(browser, workspace) -> Path:
    return workspace / "results/report/report.html"


def test_report_renders_cleanly_in_a_browser(report_html, tmp_path):
    shot = tmp_path / "report.png"
    errors = render(report_html, shot)
    kept = shutil.copy(shot, report_html.parent / "screenshot.png")
    print(f"report screenshot: {kept}")
    assert errors == [], "\n".join(errors)
    assert_drawn(shot, 1280, 2400)
