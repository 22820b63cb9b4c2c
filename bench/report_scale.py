"""Snakemake's report at scale (issue 28): `snakemake --report` of a long text, and the time the report
takes to open in headless Chromium.

Two ways to get a finished text:
- `--project DIR`: a finished project (e.g. the working directory bench/text_scale.py leaves), reported
  as it is;
- `--sentences N --like DIR`: a project of N sentences (bench/text_scale.py's text, DIR's config and
  models) whose outputs are put in place without running a search or render job: the text is split for
  real, every other file the plan names is made empty, except the files the report shows (contact sheet
  pages, summary and timings tables, subtitles, film), which are copies of the finished project DIR's,
  repeated to N sentences' worth (the film: DIR's film joined to itself with ffmpeg's concat, no
  re-encoding); then `snakemake --touch` records them as made by this plan.

Reports, never asserts: the seconds of `snakemake --report` to a .zip (the report's page with its files
beside it) and, where the files it would embed stay under --html-limit-mb, to one .html file
(everything embedded as data URIs: a 10,000-sentence film and its sheet pages are gigabytes, which no
browser opens in seconds, so that report is not made); the files' sizes; and, in headless Chromium, the
seconds from opening each report's page (the .zip's unpacked) until its app has drawn, until the text's
category is open and until its Overview lists the files.

    .venv/bin/python bench/report_scale.py --project /tmp/mi-text-scale-2000-25-XXXX
    .venv/bin/python bench/report_scale.py --sentences 10000 --like /tmp/mi-text-scale-2000-25-XXXX \
        --out bench/results/report_scale-10000.json
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_json import write_json  # noqa: E402

from text_scale import text_of  # noqa: E402
from review_scale import browser_missing, headless_chromium  # noqa: E402

TEXT = "long"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", "2", *args,
               "--configfile", "config.yaml"]
    run = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed in {workdir}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


def repeated_lines(source: Path, target: Path, copies: int, header: bool) -> None:
    lines = source.read_text().splitlines(keepends=True)
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    target.write_text("".join(head + body * copies))


def synthetic_project(sentences: int, like: Path) -> Path:
    """A project of `sentences` sentences whose outputs are in place, those the report shows copied from
    the finished project `like` (see the module's doc)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"mi-report-scale-{sentences}-"))
    (workdir / "texts").mkdir()
    (workdir / "texts" / f"{TEXT}.txt").write_text(text_of(sentences))
    config = yaml.safe_load((like / "config.yaml").read_text())
    config["texts"] = {TEXT: f"texts/{TEXT}.txt"}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    # 1. the models as they are (copied) and the text split for real (every job's parse reads it)
    shutil.copytree(like / "resources", workdir / "resources", symlinks=True)
    snakemake(workdir, f"results/{TEXT}/prompts.tsv")
    # 2. every other output the plan names, empty (receipts listing nothing)
    plan = snakemake(workdir, "--dry-run").stdout
    for line in sorted(set(re.findall(r"^    output: (.*)$", plan, re.MULTILINE))):
        for name in line.split(", "):
            target = workdir / name
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith("/review"):
                target.mkdir(exist_ok=True)
            else:
                target.write_text('{"stage": "", "block": "", "identity": {}, "products": {}}'
                                  if "/receipts/" in name else "")
    # 3. what the report shows, at this length: copies of the finished project's
    source, results = like / "results" / TEXT, workdir / "results" / TEXT
    copies = max(1, round(sentences / len((source / "prompts.tsv").read_text().splitlines()[1:])))
    pages = sorted(source.glob("contact_sheet*.png"))
    for n, page in enumerate(sorted(results.glob("contact_sheet*.png"))):
        shutil.copyfile(pages[n % len(pages)], page)
    repeated_lines(source / "summary.tsv", results / "summary.tsv", copies, header=True)
    repeated_lines(source / "timings" / "timings.tsv", results / "timings" / "timings.tsv", copies, header=True)
    repeated_lines(source / "film.srt", results / "film.srt", copies, header=False)
    listing = workdir / "films.txt"
    listing.write_text(f"file '{source / 'film.mp4'}'\n" * copies)
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", str(results / "film.mp4")], check=True)
    # 4. recorded as made by this plan
    snakemake(workdir, "--touch")
    return workdir


def menu_item(label: str) -> str:
    """The XPath of the report's menu entry that reads `label` (Snakemake's app: li > a > span)."""
    return f"//a[span[normalize-space(text())='{label}']]"


def open_in_browser(page: Path) -> dict:
    """Seconds from opening a report's page until the document is complete, until its app has drawn (the
    loading screen gone, the menu there), until the menu's Results, the text's category and its
    Overview are open, and until the Overview lists the contact sheet."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seconds = {}
    with tempfile.TemporaryDirectory() as profile:
        driver = headless_chromium(Path(profile))
        wait = WebDriverWait(driver, 600)
        try:
            driver.set_page_load_timeout(600)
            start = time.perf_counter()
            driver.get(page.as_uri())
            wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
            seconds["loaded_s"] = time.perf_counter() - start
            wait.until(lambda d: d.execute_script(
                "return getComputedStyle(document.querySelector('#loading-screen')).display === 'none'"
                " && document.querySelector('#app').childElementCount > 0"))
            seconds["drawn_s"] = time.perf_counter() - start
            # (with one text, Results opens straight into its category)
            for label, key in (("Results", "results_open_s"), (TEXT, "category_open_s"),
                               ("Overview", "overview_open_s")):
                wait.until(lambda d: d.find_elements(By.XPATH, menu_item(label)) or (
                    label == TEXT and d.find_elements(By.XPATH, menu_item("Overview"))))
                for item in driver.find_elements(By.XPATH, menu_item(label))[:1]:
                    item.click()
                    seconds[key] = time.perf_counter() - start
            wait.until(lambda d: "contact_sheet" in d.find_element(By.ID, "app").text)
            seconds["overview_listed_s"] = time.perf_counter() - start
        finally:
            driver.quit()
    return {key: round(value, 2) for key, value in seconds.items()}


def embedded_bytes(report_zip: Path) -> int:
    """The bytes of the files an .html report would embed: those the .zip report holds beside its page
    (every output marked `report(...)`, as Snakemake itself gathered them)."""
    with zipfile.ZipFile(report_zip) as archive:
        return sum(entry.file_size for entry in archive.infolist() if Path(entry.filename).name != "report.html")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, help="a finished project to report as it is")
    parser.add_argument("--sentences", type=int, help="a synthetic project of this many sentences ...")
    parser.add_argument("--like", type=Path, help="... its report's files copied from this finished project")
    parser.add_argument("--html-limit-mb", type=float, default=500,
                        help="make the one-file .html report only when it would embed no more than this")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    missing = browser_missing()
    if missing:
        sys.exit(missing)
    # 1. the project
    workdir = args.project or synthetic_project(args.sentences, args.like)
    sentences = len((workdir / "results" / TEXT / "prompts.tsv").read_text().splitlines()) - 1
    # 2. the .zip report, what it holds, unpacked and opened
    start = time.perf_counter()
    snakemake(workdir, "--report", str(workdir / "report.zip"))
    report_s = round(time.perf_counter() - start, 1)
    embedded = embedded_bytes(workdir / "report.zip")
    # (a synthetic project keeps the list its film was joined from)
    found = {"sentences": sentences, "project": str(workdir), "synthetic": (workdir / "films.txt").is_file(),
             "report_files_bytes": embedded, "film_bytes": (workdir / "results" / TEXT / "film.mp4").stat().st_size,
             "zip": {"report_s": report_s, "bytes": (workdir / "report.zip").stat().st_size}}
    shutil.rmtree(workdir / "report", ignore_errors=True)
    shutil.unpack_archive(workdir / "report.zip", workdir)
    found["zip"]["browser"] = open_in_browser(workdir / "report" / "report.html")
    # 3. the one-file .html report, where it stays small enough to open
    if embedded > args.html_limit_mb * 2**20:
        found["html"] = f"not made: it would embed {embedded / 2**20:.0f} MB (over --html-limit-mb)"
    else:
        start = time.perf_counter()
        snakemake(workdir, "--report", str(workdir / "report.html"))
        found["html"] = {"report_s": round(time.perf_counter() - start, 1),
                         "bytes": (workdir / "report.html").stat().st_size,
                         "browser": open_in_browser(workdir / "report.html")}
    print(json.dumps(found, indent=1))
    if args.out:
        write_json(args.out, found)
    return found


if __name__ == "__main__":
    main()
