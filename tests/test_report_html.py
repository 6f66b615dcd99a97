"""The Snakemake HTML report opens in headless Chromium without errors and shows the ablation table and ROC.

The report is rendered (`snakemake all --report`) from the session's finished tiny DAG (`tiny_run`). The
report is a single-page app without URL routing, so each view is opened the way its menu does it: a copy of
the page gets a script calling the app's own `setView` with the result (as a click on the item's eye button
does). Chromium's console must show no error; `--dump-dom` proves the view shows the expected file; the
screenshots are kept beside it for a human to look at."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import TinyRun
from workflow_sandbox import snakemake

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
]

NAVIGATE = """<script>
(function show() {
  if (typeof app === "undefined" || !app) { setTimeout(show, 50); return; }
  var key = Object.keys(results).find(function (k) { return k.endsWith("%(target)s"); });
  var cat, sub;
  Object.keys(categories).forEach(function (c) {
    Object.keys(categories[c]).forEach(function (s) {
      if (categories[c][s].indexOf(key) >= 0) { cat = c; sub = s; }
    });
  });
  var kind = results[key].mime_type.indexOf("image/") === 0 ? "img" : "html";
  app.setView({navbarMode: "subcategory", category: cat, subcategory: sub, content: kind,
               contentPath: results[key].data_uri, resultPath: key});
  document.title = "mmdiag-shown:" + key;
})();
</script>
"""


@pytest.fixture(scope="module")
def report(tiny_run: TinyRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`snakemake all --report` over the session's finished tiny DAG; returns (report.html, results base)."""
    html = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(tiny_run.work, "--cores", "1", "all", "--report", str(html), timeout=600)
    return html, tiny_run.base


def chromium(url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={workdir / 'profile'}",
        "--window-size=1400,2000",
        "--virtual-time-budget=10000",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run([CHROMIUM, *flags, *args, url], capture_output=True, text=True, timeout=120)


def console_errors(stderr: str) -> list[str]:
    """Page console messages that are errors (Chromium's own D-Bus/GPU noise is not the page's)."""
    lines = [line for line in stderr.splitlines() if ":CONSOLE" in line]
    return [line for line in lines if re.search(r"Uncaught|Error|Failed", line)]


def show(report_html: Path, target: str, workdir: Path) -> tuple[str, Path]:
    """Open the report on the item whose path ends with `target`; returns (DOM after scripts, screenshot)."""
    page = report_html.read_text(encoding="utf-8")
    end = page.rindex("</body>")
    nav = workdir / f"{Path(target).stem}.html"
    nav.write_text(page[:end] + NAVIGATE % {"target": target} + page[end:], encoding="utf-8")
    dom = chromium(nav.as_uri(), workdir, "--dump-dom")
    assert dom.returncode == 0 and not console_errors(dom.stderr), console_errors(dom.stderr)
    png = workdir / f"{Path(target).stem}.png"
    shot = chromium(nav.as_uri(), workdir, f"--screenshot={png}")
    assert shot.returncode == 0 and png.stat().st_size > 20_000
    return dom.stdout, png


def content_ink(png: Path) -> float:
    """Share of non-white pixels right of the report's menu (where the selected result is shown)."""
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("L"))[:, 450:]
    return float((pixels < 200).mean())


def shown_data(dom: str, tag: str, mime: str) -> bytes:
    """The `mime` data URI a `tag` of the page displays (`iframe` for HTML results, `img` for images), decoded."""
    match = re.search(rf'<{tag}[^>]*src="data:{re.escape(mime)};[^"]*base64,([^"]+)"', dom)
    assert match, f"no <{tag}> showing {mime} in the page"
    return base64.b64decode(match.group(1))


def test_report_opens_without_errors(report: tuple[Path, Path], tmp_path: Path) -> None:
    html, _base = report
    proc = chromium(html.as_uri(), tmp_path, "--dump-dom")
    assert proc.returncode == 0 and not console_errors(proc.stderr), console_errors(proc.stderr)
    assert "mmdiag: text-guided multimodal medical image diagnosis" in proc.stdout  # the workflow description
    for name in (
        "tmmnet_t3_ablation.html",
        "tmmnet_fig8_roc_ablation.png",
        "tmmnet_overview.html",
        "tmmnet_t4_cv.html",
    ):
        assert name in proc.stdout


def test_report_shows_ablation_table(report: tuple[Path, Path], tmp_path: Path) -> None:
    html, base = report
    dom, png = show(html, "tables/tmmnet_t3_ablation.html", tmp_path)
    assert "mmdiag-shown:" in dom and "TMM-Net (GIST)" in dom and "Tables" in dom  # menu opened at the item
    assert content_ink(png) > 0.01
    table = shown_data(dom, "iframe", "text/html").decode("utf-8")
    assert table == (base / "tables" / "tmmnet_t3_ablation.html").read_text(encoding="utf-8")
    rows = (base / "tables" / "tmmnet_t3_ablation.csv").read_text(encoding="utf-8").strip().splitlines()
    assert table.count("<tr") == len(rows) and "Synthetic data" in table  # a header row + one per arm and test set


def test_report_shows_roc_figure(report: tuple[Path, Path], tmp_path: Path) -> None:
    html, base = report
    dom, png = show(html, "figures/tmmnet_fig8_roc_ablation.png", tmp_path)
    assert content_ink(png) > 0.01
    assert shown_data(dom, "img", "image/png") == (base / "figures" / "tmmnet_fig8_roc_ablation.png").read_bytes()
