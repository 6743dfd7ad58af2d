"""Open a report in headless Chromium at a reader's width and measure what the reader gets.

The page is loaded from a copy with a probe script appended: after `load` it records the page's
scroll width against the window's, every scrolling box whose content is wider than the box (a
table a reader sees cut off at the right unless they find its scrollbar), every image that
failed to load, and the headings. A screenshot of the whole report (as tall as the page) is kept
beside it (`<report>.png`) for a person to look at.
Skipped, with the reason, where no Chromium is installed (Debian: `apt install chromium`).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
MAX_SHOT_HEIGHT = 16000  # px: a screenshot of a longer page keeps its top
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const found = {
    scroll_width: document.documentElement.scrollWidth,
    scroll_height: document.documentElement.scrollHeight,
    inner_width: window.innerWidth,
    cut: [...document.querySelectorAll(".scroll")]
      .filter((box) => box.scrollWidth > box.clientWidth + 1)
      .map((box) => `${box.textContent.trim().slice(0, 60)} (${box.scrollWidth} px in a ` +
                    `${box.clientWidth} px box)`),
    images: images.length,
    broken: images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.alt),
    headings: [...document.querySelectorAll("h1, h2, h3")].map((h) => h.textContent.trim()),
  };
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.style.display = "none";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium on PATH: install Debian's `chromium` package to check reports")


def _run(args: list[str]) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    done = subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=180)
    return done.stdout


def open_report(report: Path, width: int = 1280) -> dict[str, Any]:
    """What the page measures in the browser at `width` px; screenshot at `<report>.png`."""
    probe = report.with_name(f"{report.stem}.browser-check.html")
    probe.write_text(report.read_text().replace("</body>", f"{PROBE}</body>"))
    try:
        dom = _run([f"--window-size={width},1000", "--virtual-time-budget=10000", "--dump-dom",
                    probe.as_uri()])  # fmt: skip
    finally:
        probe.unlink()
    match = re.search(r'<pre id="browser-check"[^>]*>(.*?)</pre>', dom, re.S)
    assert match, f"the probe did not run in {report} (Chromium printed {len(dom)} characters)"
    found = json.loads(html.unescape(match.group(1)))
    height = min(found["scroll_height"], MAX_SHOT_HEIGHT)
    _run([f"--window-size={width},{height}", f"--screenshot={report.with_suffix('.png')}",
          report.as_uri()])  # fmt: skip
    return found


def assert_reads_well(
    report: Path, sections: list[str], width: int = 1280, tables_whole: bool = False
) -> dict[str, Any]:
    """No sideways scrolling, every image loaded, every expected section present; with
    `tables_whole`, no table cut off inside its scrolling box either."""
    page = open_report(report, width)
    assert page["scroll_width"] <= page["inner_width"] == width, page
    assert not (tables_whole and page["cut"]), f"cut off at {width} px: {page['cut']}"
    assert page["images"] > 0 and not page["broken"], page
    missing = [s for s in sections if not any(s in h for h in page["headings"])]
    assert not missing, f"sections {missing} not among {page['headings']}"
    return page
