"""The review page at scale (issue 31): a synthetic finished text of N sentences with K takes each, its
page written by the report stage's own job (report.review.review_page_job), then opened in headless
Chromium from file:// and scrolled from top to bottom. It reports the job's seconds, the page's and the
thumbnails' bytes, the time until the page has drawn its sentences, the images the browser loaded
before any scrolling (lazy loading), and the frame intervals while scrolling (a frame over 50 ms is a
visible stutter). Numbers are reported, never asserted (tests/test_review.py checks the behaviour).

    .venv/bin/python bench/review_scale.py --sentences 200 --candidates 8 --side 256 \
        --out bench/results/review_scale.json

Needs Chromium and its driver (Debian: chromium, chromium-driver) and selenium.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench_json import write_json

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")


def browser_missing() -> str | None:
    """Why no headless browser can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def headless_chromium(profile: Path, downloads: Path | None = None, size=(1280, 1000)):
    """Debian's Chromium, headless, through chromedriver, with a fresh profile, keeping the console's log
    and saving downloads to `downloads`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if downloads is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def fake_results(root: Path, sentences: int, candidates: int, side: int = 64, seed: int = 0) -> list[str]:
    """A finished results/<text> tree as the pipeline writes it, without searching: prompts.tsv, every
    take's image, latents and history plot, each sentence's kept files (the best judge score), film.srt.
    Images are drawn (a gradient and a disc) and reused by hard links beyond 16 distinct ones, as the
    browser decodes each file anyway. Returns the sentences."""
    from PIL import Image, ImageDraw

    from machine_imagination.latents import Candidates, Latents, SearchOutcome, Sentence
    from machine_imagination.search.candidates import candidate_seed

    rng = np.random.default_rng(seed)
    root = Path(root)
    pictures = []
    for n in range(16):
        x = np.linspace(0, 1, side)
        image = np.stack([np.outer(x, np.ones(side)) * (40 + 13 * n) % 255, np.outer(np.ones(side), x) * 180,
                          np.full((side, side), 40.0 + 12 * n)], axis=2)
        image = (image + rng.integers(0, 24, image.shape)).clip(0, 255).astype(np.uint8)  # a photo's grain
        picture = Image.fromarray(image)
        ImageDraw.Draw(picture).ellipse([side * 0.2 + n, side * 0.3, side * 0.6 + n, side * 0.7], fill=(200, 40, 40))
        pictures.append(picture)
    cache = root / ".pictures"
    cache.mkdir(parents=True, exist_ok=True)
    for n, picture in enumerate(pictures):
        picture.save(cache / f"{n}.png")
        picture.resize((200, 120)).save(cache / f"plot{n}.png")

    def place(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        os.link(source, target)

    words = ["sea", "storm", "lantern", "fox", "boat", "dawn", "cliff", "gull", "rain", "harbour"]
    texts = [f"The {words[i % 10]} and the {words[(3 * i + 1) % 10]} meet at hour {i}." for i in range(sentences)]
    rows = ["index\tsentence\tprompt\tseed\ttokens\ttruncated\tclip_prompt"]
    cues = []
    for i, sentence in enumerate(texts):
        name, seed_i = f"{i:04d}", 1000 + i
        rows.append(f"{i}\t{sentence}\t{sentence}\t{seed_i}\t14\tfalse\t{sentence}")
        records = []
        for k in range(candidates):
            n = (i * candidates + k) % 16
            place(cache / f"{n}.png", root / "candidates" / name / f"{k}.png")
            place(cache / f"plot{n}.png", root / "candidates" / name / f"{k}-history.png")
            score = float(rng.uniform(0.2, 0.8))
            record = Latents(noise=rng.standard_normal(8).astype(np.float32), class_vector=np.zeros(4, np.float32),
                             seed=candidate_seed(seed_i, k),
                             sentence=Sentence("fake", i, sentence, sentence, sentence),
                             search=SearchOutcome(loss=float(rng.uniform(10, 60)), similarity=score + 0.1,
                                                  start_loss=80.0, best_iteration=2, optimizer="cma-es",
                                                  initial_class="random-class", clip="fake", judge_similarity=score))
            record.save(root / "candidates" / name / f"{k}.npz")
            records.append(record)
        choice = Candidates.among(records)
        replace(records[choice.kept], candidates=choice).save(root / "latents" / f"{name}.npz")
        place(root / "candidates" / name / f"{choice.kept}.png", root / "images" / f"{name}.png")
        place(root / "candidates" / name / f"{choice.kept}-history.png", root / "history" / f"{name}.png")
        cues.append(f"{i + 1}\n00:{i // 60:02d}:{i % 60:02d},000 --> 00:{i // 60:02d}:{i % 60:02d},800\n{sentence}\n")
    (root / "prompts.tsv").write_text("\n".join(rows) + "\n")
    (root / "film.srt").write_text("\n".join(cues))
    shutil.rmtree(cache)
    return texts


def fake_settings(text: str = "fake", candidates: int = 2, table: str | None = None):
    from machine_imagination.report.review import ReviewSettings

    return ReviewSettings(text=text, candidates=candidates, template="{sentence}", style="", iterations=20,
                          initial_class="random-class", classes=("red circle", "blue square"), modes=("random-mix",),
                          table=table, other_tables=False)


SCROLL = """
const done = arguments[arguments.length - 1];
const frames = [];
let last = performance.now(), y = 0;
function step(now) {
  frames.push(now - last); last = now; y += arguments_step; window.scrollTo(0, y);
  if (y < document.documentElement.scrollHeight) requestAnimationFrame(step); else done(frames);
}
requestAnimationFrame(step);
"""


def measure(page: Path, profile: Path, step: int = 300) -> dict:
    """Open the page from file://, then scroll it `step` pixels a frame to the end; then the same scroll
    through a page of plain text as tall (what this machine's load alone costs the frames)."""
    driver = headless_chromium(profile)
    try:
        driver.set_script_timeout(600)
        started = time.perf_counter()
        driver.get(page.as_uri())
        drawn = time.perf_counter() - started
        images = "return [...document.images].filter(i => i.complete && i.naturalWidth > 0).length"
        before = driver.execute_script(images)
        total = driver.execute_script("return document.images.length")
        frames = driver.execute_async_script(SCROLL.replace("arguments_step", str(step)))[1:]
        after = driver.execute_script(images)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        height = driver.execute_script("return document.documentElement.scrollHeight")
        plain = page.with_name("plain.html")
        lines = "".join(f"<p>line {n} of plain text</p>" for n in range(height // 40))
        plain.write_text(f"<!doctype html><body>{lines}</body>")
        driver.get(plain.as_uri())
        plain_frames = np.asarray(driver.execute_async_script(SCROLL.replace("arguments_step", str(step)))[1:])
    finally:
        driver.quit()
    frames = np.asarray(frames)
    return {"seconds_to_drawn_page": round(drawn, 3), "images_in_page": total,
            "images_loaded_before_scrolling": before, "images_loaded_after_scrolling": after,
            "scroll_frames": len(frames), "scroll_pixels_per_frame": step,
            "frame_ms_median": round(float(np.median(frames)), 1),
            "frame_ms_p95": round(float(np.percentile(frames, 95)), 1), "frame_ms_max": round(float(frames.max()), 1),
            "frames_over_50ms": int((frames > 50).sum()), "console_errors": len(errors),
            "plain_text_page": {"frame_ms_median": round(float(np.median(plain_frames)), 1),
                                "frame_ms_p95": round(float(np.percentile(plain_frames, 95)), 1),
                                "frames_over_50ms": int((plain_frames > 50).sum()), "scroll_frames": len(plain_frames)}}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--side", type=int, default=256, help="the images' side in pixels")
    parser.add_argument("--step", type=int, default=300, help="pixels scrolled per frame (300: a fling)")
    parser.add_argument("--out", help="write the result here as JSON")
    args = parser.parse_args(argv)
    from machine_imagination.report.review import THUMBNAILS, review_page_job

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results" / "fake"
        fake_results(root, args.sentences, args.candidates, args.side)
        started = time.perf_counter()
        review_page_job(fake_settings(candidates=args.candidates), root / "review.html", root / THUMBNAILS)
        job = time.perf_counter() - started
        thumbnails = sum(p.stat().st_size for p in (root / THUMBNAILS).iterdir())
        result = {"sentences": args.sentences, "candidates": args.candidates, "side": args.side,
                  "job_seconds": round(job, 2), "page_bytes": (root / "review.html").stat().st_size,
                  "thumbnail_bytes": thumbnails,
                  "image_bytes": sum(p.stat().st_size for p in (root / "candidates").rglob("[0-9].png"))}
        missing = browser_missing()
        result["browser"] = measure(root / "review.html", Path(tmp) / "profile", args.step) if not missing else missing
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
