"""The report in a real browser: headless Chromium (Debian's `chromium`) opens it from disk.

Two loads. The report itself, with console logging on: no console message at all (a blocked
request or script would log a Content-Security-Policy violation), and a screenshot whose path
the test prints. Then a copy with a probe script put first in <head>: after `load` it counts the
figures that decoded and have a size, the <script> elements, and calls to alert(), and writes
them into the DOM that --dump-dom prints. The report has no script of its own, so the probe
must be the only one, and the hostile names from the folder dataset must be there as text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dlbench.report.html import build_report

CHROMIUM = os.environ.get("DLBENCH_CHROMIUM", "/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
PROBE = """<script>
window.__alerts = 0;
window.alert = function () { window.__alerts += 1; };
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll("figure img"));
  var shown = imgs.filter(function (i) {
    var r = i.getBoundingClientRect();
    return i.complete && i.naturalWidth > 0 && i.naturalHeight > 0 && r.width > 0 && r.height > 0;
  });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({figures: imgs.length, shown: shown.length,
    scripts: document.scripts.length, alerts: window.__alerts});
  document.body.appendChild(out);
});
</script>"""

pytestmark = [
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"no Chromium at {CHROMIUM} (Debian: apt install chromium)",
    ),
    pytest.mark.slow,  # the database is trained in a child process
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _console(stderr: str) -> list[str]:
    """Messages the page logged (console output, errors, CSP violations)."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]


def test_report_in_headless_chromium(trained_db, tmp_path_factory):
    db = trained_db.path
    out_dir = tmp_path_factory.mktemp("browser")
    report = out_dir / "report.html"
    result = build_report(db, report)
    html = report.read_text()
    figures = html.count("<figure ")
    assert figures == len(result.files) // 2 >= 8

    shot = out_dir / "report.png"
    run = _chromium(out_dir, f"--screenshot={shot}", "--window-size=1280,4000", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 50_000, run.stderr[-2000:]
    assert _console(run.stderr) == [], _console(run.stderr)
    print(f"\nscreenshot: {shot}\nreport: {report}")

    probed = out_dir / "probed.html"
    probed.write_text(html.replace("<head>", "<head>\n" + PROBE, 1))
    run = _chromium(out_dir, "--dump-dom", "--window-size=1280,4000", probed.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout)
    assert m, run.stdout[-2000:] + run.stderr[-2000:]
    probe = json.loads(m.group(1))
    assert probe == {"figures": figures, "shown": figures, "scripts": 1, "alerts": 0}
    assert _console(run.stderr) == [], _console(run.stderr)
    dom = run.stdout
    assert dom.count("<script") == 1  # the probe: no name became a script
    for text in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;script&gt;alert(3)",
                 "&lt;img src=x onerror=alert(2)&gt;", "mlp3-&lt;b onmouseover=alert(4)&gt;"):  # fmt: skip
        assert text in dom, text
    assert "<img src=x" not in dom and "<b onmouseover" not in dom


SCROLL_PROBE = """<script>
window.addEventListener("load", function () {
  var box = document.querySelector("#summary .scroll");
  var table = box.querySelector("table");
  var last = function () { return table.querySelector("thead th:last-child").getBoundingClientRect(); };
  var r = box.getBoundingClientRect();
  var out = {overflowX: getComputedStyle(box).overflowX, boxWidth: box.clientWidth,
    tableWidth: box.scrollWidth, boxRight: r.right, pageWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth, lastBefore: last().right, focusable: box.tabIndex};
  box.scrollLeft = 100000;
  out.scrolled = box.scrollLeft;
  out.lastAfter = last().right;
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def test_summary_scrolls_inside_its_box_at_1024_px(synthetic_db, tmp_path):
    """At 1024 pixels the summary table is wider than the page: its box scrolls sideways, the
    page does not, and scrolling brings the last column (status) into the box."""
    report = tmp_path / "report.html"
    build_report(synthetic_db, report, samples=False)
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("<head>", "<head>\n" + SCROLL_PROBE, 1))
    run = _chromium(tmp_path, "--dump-dom", "--window-size=1024,2000", probed.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout)
    assert m, run.stdout[-2000:] + run.stderr[-2000:]
    p = json.loads(m.group(1))
    print(f"\nsummary at 1024 px: {p}")
    assert p["overflowX"] == "auto" and p["focusable"] == 0  # keyboard users can scroll it
    assert p["tableWidth"] > p["boxWidth"]  # wider than the page: the case that clipped
    assert p["pageWidth"] <= p["viewport"] and p["boxRight"] <= p["viewport"]
    assert p["lastBefore"] > p["boxRight"]  # status starts out of view...
    assert p["scrolled"] == p["tableWidth"] - p["boxWidth"] > 0
    assert p["lastAfter"] <= p["boxRight"] + 1  # ...and scrolling brings it in
