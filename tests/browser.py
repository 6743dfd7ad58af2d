"""Open a report in headless Chromium at a reader's width and measure what the reader gets.

The page is loaded from a copy with a probe script appended: after `load` it records the page's
scroll width against the window's, every image that failed to load, and the headings. A
screenshot of the report itself is kept beside it (`<report>.png`) for a person to look at.
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
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const found = {
    scroll_width: document.documentElement.scrollWidth,
    inner_width: window.innerWidth,
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
    _run([f"--window-size={width},3000", f"--screenshot={report.with_suffix('.png')}",
          report.as_uri()])  # fmt: skip
    match = re.search(r'<pre id="browser-check"[^>]*>(.*?)</pre>', dom, re.S)
    assert match, f"the probe did not run in {report} (Chromium printed {len(dom)} characters)"
    return json.loads(html.unescape(match.group(1)))


def assert_reads_well(report: Path, sections: list[str], width: int = 1280) -> dict[str, Any]:
    """No sideways scrolling, every image loaded, every expected section present."""
    page = open_report(report, width)
    assert page["scroll_width"] <= page["inner_width"], page
    assert page["images"] > 0 and not page["broken"], page
    missing = [s for s in sections if not any(s in h for h in page["headings"])]
    assert not missing, f"sections {missing} not among {page['headings']}"
    return page
