"""Render an HTML page in headless Chromium and report what a reader would see.

Used by the report tests. The page is copied with a small script injected: first thing in
<head>, it records every uncaught error, failed resource and ``console.error``; after
the load event it writes, into the DOM, how many images there are and how many decoded
(``naturalWidth > 0``). ``chromium --dump-dom`` prints that DOM, and ``--screenshot``
keeps a picture of the page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_PROBE = """<script>
window.__problems = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__problems.push(t && t !== window ? "failed to load " + (t.src || t.href)
                                           : "uncaught: " + e.message);
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__problems.push("unhandled rejection: " + e.reason);
});
var __error = console.error;
console.error = function () {
  window.__problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
  __error.apply(console, arguments);
};
window.addEventListener("load", function () {
  setTimeout(function () {
    var imgs = Array.prototype.slice.call(document.images);
    var out = document.createElement("pre");
    out.id = "wavescope-probe";
    out.textContent = JSON.stringify({
      images: imgs.length,
      loaded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
      problems: window.__problems,
      text: document.body.innerText
    });
    document.body.appendChild(out);
  }, 500);
});
</script>"""


def chromium() -> str:
    """The Chromium binary, or skip the test saying how to get one."""
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium binary found (looked for " + ", ".join(BINARIES) + "); install "
                "Debian's package with `apt-get install -y chromium` (make install does it "
                "when apt-get is available)")


def _run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={profile}", "--virtual-time-budget=10000"]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True,
                          timeout=180, check=False)


def render(page: Path, tmp_path: Path, screenshot: str = "report.png") -> dict:
    """Open ``page`` in headless Chromium.

    Returns
    -------
    dict
        ``images`` (count), ``loaded`` (images decoded with a width), ``problems`` (errors
        seen by the page, and console errors Chromium logged), ``text`` (the visible text)
        and ``screenshot`` (the path of a PNG of the page; also copied into the folder named
        by ``$WAVESCOPE_ARTIFACTS`` when it is set).
    """
    binary = chromium()
    probed = page.with_name(f".probe-{page.name}")
    source = page.read_text(encoding="utf-8")
    probed.write_text(re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + _PROBE, source,
                             count=1), encoding="utf-8")
    try:
        res = _run(binary, tmp_path / "chromium-profile", "--dump-dom", probed.as_uri())
    finally:
        probed.unlink()
    found = re.search(r'<pre id="wavescope-probe">(.*?)</pre>', res.stdout, re.S)
    assert found, f"chromium did not render the page (exit {res.returncode}): {res.stderr[-2000:]}"
    import html

    result = json.loads(html.unescape(found.group(1)))
    logged = [line for line in res.stderr.splitlines()
              if "CONSOLE" in line and ("Uncaught" in line or "error" in line.lower())]
    result["problems"] = result["problems"] + logged
    shot = tmp_path / screenshot
    _run(binary, tmp_path / "chromium-profile", f"--screenshot={shot}",
         "--window-size=1280,2400", page.as_uri())
    assert shot.is_file() and shot.read_bytes()[:4] == b"\x89PNG", "no screenshot"
    if os.environ.get("WAVESCOPE_ARTIFACTS"):
        folder = Path(os.environ["WAVESCOPE_ARTIFACTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, folder / screenshot)
    result["screenshot"] = shot
    return result
