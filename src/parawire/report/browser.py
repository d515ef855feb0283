"""Looking at a report as a person would: headless Chromium loads the page, a script reports
what the browser sees (every image decoded, every table present), and a screenshot is taken.

Chromium's own command line is enough (no WebDriver, no extra Python package): ``--dump-dom``
prints the page after its ``load`` event, so a script injected into a copy of the page writes
its findings into the DOM as JSON; ``--screenshot`` writes a PNG.

    found = check_page(Path("runs/demo/report.html"))
    assert found["images"] and all(i["naturalWidth"] > 0 for i in found["images"])
    screenshot(Path("runs/demo/report.html"), Path("shot.png"), height=found["height"])
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from parawire.errors import ParawireError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")
ENV_VAR = "PARAWIRE_CHROMIUM"  # a browser executable to use instead of the first found
TIMEOUT_S = 90.0  # one browser run; a loaded 2-core machine needs a few seconds
_MARK = "parawire-check"
# Runs after every image has loaded or failed (the load event); writes what it found as JSON.
_CHECK_SCRIPT = (
    """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({id: i.id, complete: i.complete,
                                                   naturalWidth: i.naturalWidth,
                                                   naturalHeight: i.naturalHeight}));
  const tables = [...document.querySelectorAll("table")].map(t => ({
    name: t.dataset.name || "", rows: t.tBodies.length ? t.tBodies[0].rows.length : 0,
    columns: t.tHead ? t.tHead.rows[0].cells.length : 0}));
  const out = document.createElement("pre");
  out.id = "@MARK@";
  out.textContent = JSON.stringify({title: document.title, images, tables,
                                    height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>"""
).replace("@MARK@", _MARK)


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: ``$PARAWIRE_CHROMIUM``, else the first on PATH."""
    forced = os.environ.get(ENV_VAR)
    if forced:
        return forced if shutil.which(forced) else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def _run(args: list[str], timeout: float) -> str:
    """Run headless Chromium with a throw-away profile; its stdout."""
    exe = find_chromium()
    if exe is None:
        raise ParawireError(
            f"no Chromium found (tried {', '.join(CANDIDATES)}; set {ENV_VAR}); on Debian: "
            "apt-get install chromium"
        )
    with tempfile.TemporaryDirectory(prefix="parawire-chromium-") as profile:
        cmd = [
            exe,
            "--headless",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *(["--no-sandbox"] if os.geteuid() == 0 else []),  # root cannot use the sandbox
            *args,
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ParawireError(f"Chromium did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = " ".join(done.stderr.split()[-30:])
        raise ParawireError(f"Chromium exited with {done.returncode}: {tail}")
    return done.stdout


def check_page(page: Path, *, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """What Chromium sees in ``page`` once loaded: ``title``, ``images`` (id, complete,
    naturalWidth, naturalHeight), ``tables`` (data-name, body rows, columns), ``height`` (px)."""
    text = page.read_text()
    if "</body>" not in text:
        raise ParawireError(f"{page} has no </body>; not an HTML page")
    with tempfile.TemporaryDirectory(prefix="parawire-page-") as tmp:
        copy = Path(tmp) / page.name  # same folder depth: a page with no relative links
        copy.write_text(text.replace("</body>", _CHECK_SCRIPT + "</body>", 1))
        dom = _run(["--virtual-time-budget=10000", "--dump-dom", copy.resolve().as_uri()], timeout)
    found = re.search(rf'<pre id="{_MARK}">(.*?)</pre>', dom, re.S)
    if found is None:
        raise ParawireError(f"the check script did not run in Chromium on {page}")
    import html

    return json.loads(html.unescape(found.group(1)))


def screenshot(
    page: Path, png: Path, *, width: int = 1280, height: int = 2400, timeout: float = TIMEOUT_S
) -> Path:
    """A PNG of the top ``width`` x ``height`` pixels of ``page`` as Chromium renders it."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}",
            page.resolve().as_uri(),
        ],
        timeout,
    )
    if not png.is_file() or png.stat().st_size == 0:
        raise ParawireError(f"Chromium wrote no screenshot to {png}")
    return png
