"""claims.md / claims.csv / report.html: same inputs give the same bytes; the HTML is
self-contained and renders in a real browser (headless Chromium) with every image and
table present."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from muonlab.claims import evaluate_study_claim, judge, parse_claim
from muonlab.claims.report import RunInfo, write_report
from tests.claims.synthetic import BASE_CLAIM, synthetic_study

N = 8
RNG = np.random.default_rng(7)
CONTROL = np.exp(RNG.normal(0.0, 0.5, N))
JITTER = np.exp(RNG.normal(0.0, 0.05, N))


def results(studies_dir: Path, tmp_path: Path):
    study = synthetic_study(tmp_path, {("A", True): CONTROL * 0.5, ("B", True): CONTROL * JITTER,
                                       ("A", False): CONTROL, ("B", False): CONTROL * 1.01})
    claims = [parse_claim({**BASE_CLAIM, **changes}, tmp_path / "c.toml", studies_dir) for changes in (
        {"id": "lower", "controls": ["ctl"]},
        {"id": "ctl", "role": "control", "kind": "equivalence", "margin": 0.05, "where": {"fix_V": False}},
        {"id": "inter", "kind": "interaction", "where": {},
         "interaction": {"setting": "fix_V", "stronger": True, "weaker": False}},
    )]
    return judge(claims, {c.id: evaluate_study_claim(c, study) for c in claims})


INFO = RunInfo(quick=True, seconds=None, manifests={"toy": {"muonlab": "0", "torch": "t", "git_revision": "abc"}},
               seeds_note="seeds per study: toy 8")


def test_same_inputs_same_bytes(studies_dir, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    write_report(results(studies_dir, tmp_path), INFO, first)
    write_report(results(studies_dir, tmp_path), INFO, second)
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert len(names) == 6  # claims.md, claims.csv, report.html, plots/{lower,ctl,inter}.png
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_csv_and_markdown_carry_every_claim(studies_dir, tmp_path):
    write_report(results(studies_dir, tmp_path), INFO, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "claims.csv")
    assert list(table["id"]) == ["lower", "ctl", "inter"]
    assert set(table["verdict"]) <= {"supported", "not supported", "inconclusive"}
    for column in ("effect", "ci_low", "ci_high", "p", "p_holm"):
        assert table[column].dtype == float, column  # numbers, not reprs of numpy scalars
    text = (tmp_path / "out" / "claims.md").read_text()
    assert "QUICK" in text and all(f"| {i}" in text for i in ("lower", "ctl (control)", "inter"))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# A page script run after load: counts images that decoded (naturalWidth > 0) and the
# tables, and writes the result into the DOM for --dump-dom to carry out.
PROBE = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const p = document.createElement('pre'); p.id = 'probe';
  p.textContent = `images ${imgs.length} loaded ${ok} tables ${document.querySelectorAll('table').length}`;
  document.body.appendChild(p);
});</script></body>"""


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (Debian: apt-get install chromium; .ci/run installs it)")
def test_report_renders_in_chromium(studies_dir, tmp_path):
    out = tmp_path / "out"
    write_report(results(studies_dir, tmp_path), INFO, out)
    page = tmp_path / "probe.html"
    page.write_text((out / "report.html").read_text().replace("</body>", PROBE), encoding="utf-8")
    run = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)
    found = re.search(r"images (\d+) loaded (\d+) tables (\d+)", run.stdout)
    assert found, run.stdout[-500:] + run.stderr[-500:]
    images, loaded, tables = map(int, found.groups())
    # One figure per claim; tables: the summary, one detail table per claim, the manifests.
    assert images == 3 and loaded == images
    assert tables == 1 + 3 + 1
