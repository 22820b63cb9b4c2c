"""The review page in a real browser (Debian's headless Chromium, driven by selenium) on a real run: a
finished shapes project of five sentences of two takes each (config/demo.yaml's models, a job per
sentence and per segment, a short search). From file://: every image, the chart and the film with its
subtitles, no console error, and Save downloads the table. Served by `machine-imagination review`: pick
take 1 of sentence 2, reword sentence 3's prompt, another seed for sentence 0, Save: the table holds
exactly those rows, and the next snakemake run searches sentences 0 and 3 only, keeps take 1 of sentence
2 without searching it, and re-renders only the segments that touch 0, 2 and 3. A table broken by hand
is shown with the parser's message and never overwritten.

Skipped when Chromium, chromedriver or selenium is missing, unless MI_REQUIRE_BROWSER=1 (.ci/run sets
it, after installing them). MI_REVIEW_SCREENSHOT=PATH keeps the screenshot the test takes (README's).
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import conftest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from review_scale import browser_missing, fake_results, fake_settings, headless_chromium  # noqa: E402

MISSING = browser_missing()
REQUIRED = os.environ.get("MI_REQUIRE_BROWSER") == "1"  # .ci/run: a missing browser fails, not skips
pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=f"no headless browser: {MISSING}")

SENTENCES = ["A small red circle at the top left.", "A big blue square at the bottom right.",
             "A small yellow triangle on the right.", "A big green diamond on the left.",
             "A small purple circle at the top."]
PROMPT = "a big green diamond:1 | blurry:-0.3"


def expected_table(seed: str) -> str:
    """The overrides table of the three edits: the columns they need, in the table's order, one row each."""
    return f"index\tseed\tprompt\tcandidate\n0\t{seed}\t\t\n2\t\t\t1\n3\t\t{PROMPT}\t\n"


def shapes_config() -> dict:
    """The shapes project of the other end-to-end tests (conftest.shapes_config: the demo's models, two
    takes per sentence, a short search), on five sentences, its film paced fixed and captioned both ways."""
    config = conftest.shapes_config(**{"film.fps": 8, "film.steps": 4, "film.pacing": "fixed", "film.hold": 8,
                                       "film.title_card": False, "film.end_card": False, "film.captions": "both"})
    config["texts"] = {"five": "texts/five.txt"}
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory, snakemake_run):
    project = tmp_path_factory.mktemp("review")
    (project / "models").symlink_to(REPO / "models")
    (project / "texts").mkdir()
    (project / "texts" / "five.txt").write_text("\n".join(SENTENCES) + "\n")
    (project / "config.yaml").write_text(yaml.safe_dump(shapes_config()))
    run = snakemake_run(project, "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    return project


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, downloads):
    if MISSING:
        pytest.fail(f"MI_REQUIRE_BROWSER=1 but no headless browser: {MISSING}")
    driver = headless_chromium(tmp_path_factory.mktemp("profile"), downloads, size=(1280, 1000))
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(finished):
    """`machine-imagination review` in the project, as an artist starts it; its URL."""
    process = subprocess.Popen([sys.executable, "-m", "machine_imagination.cli", "review", "--configfile",
                                "config.yaml", "five", "--no-browser"], cwd=finished, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    printed = []
    while not any("http://127.0.0.1:" in line for line in printed):
        line = process.stdout.readline()
        assert line, "the server stopped: " + "".join(printed)
        printed.append(line)
    yield re.search(r"http://127\.0\.0\.1:\d+/\S+/", "".join(printed)).group(0)
    process.terminate()
    process.wait(timeout=30)


def wait(driver, condition, what, timeout=60):
    """Poll `condition(driver)` until it is true; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition(driver)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def text_of(driver, selector):
    return driver.execute_script("return document.querySelector(arguments[0]).textContent", selector)


def click(driver, selector):
    """Click an element as a user does: scrolled to the middle of the window first (the bar at the bottom
    of the page would take a click on what sits under it)."""
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    return element


def press(driver, *keys):
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(driver).send_keys(key).perform()


def edit(driver):
    """The three edits, as an artist makes them: keys to sentence 2 and its take 1, the prompt field of
    sentence 3, the 'Another seed' button of sentence 0. Returns the seed drawn."""
    from selenium.webdriver.common.by import By

    click(driver, "#s0 h2")  # sentence 0 is the one the keys act on
    press(driver, "j", "j", "1")  # next, next, take 1
    click(driver, "#s3 details.edit summary")
    driver.find_element(By.ID, "e3-prompt").send_keys(PROMPT)
    click(driver, "#s0 details.edit summary")
    click(driver, "#s0 button.reroll")
    seed = driver.find_element(By.ID, "e0-seed").get_attribute("value")
    assert re.fullmatch(r"\d+", seed) and int(seed) > 0
    assert text_of(driver, "#pending-count").startswith("3 sentences changed (0, 2, 3)")
    assert "take" not in text_of(driver, "#message")  # the pick was taken, not refused
    return seed


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.mark.e2e
def test_from_a_file_every_image_the_chart_and_the_film_and_save_downloads_the_table(finished, browser, downloads):
    from selenium.webdriver.common.by import By

    out = finished / "results" / "five"
    browser.get((out / "review.html").as_uri())
    # 1. every image of every row, once each row has been scrolled to (they load lazily)
    for index in range(len(SENTENCES)):
        browser.execute_script("document.getElementById(arguments[0]).scrollIntoView()", f"s{index}")
    images = "return [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
    loaded = wait(browser, lambda d: (lambda shown: shown if shown and all(ok for _, ok in shown) else None)(
        d.execute_script(images)), "every image to load")
    sources = sorted({src for src, _ in loaded})
    assert sources == sorted([f"images/{i:04d}.png" for i in range(5)] + [f"review/{i:04d}.jpg" for i in range(5)])
    click(browser, "#s1 button.history")
    wait(browser, lambda d: d.execute_script("const i = document.querySelector('#s1 .plot img'); "
                                             "return i && i.complete && i.naturalWidth > 0"), "the history plot")
    # 2. the chart: a bar per sentence (its judge score), the similarity's line through five points
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart .bar")) == 5
    assert len(browser.find_element(By.CSS_SELECTOR, "#chart polyline.similarity").get_attribute("points").split()) == 5
    # 3. the film plays in the page, with film.srt's cues as its subtitles
    film = wait(browser, lambda d: d.execute_script(
        "const v = document.getElementById('film'); return v.readyState >= 1 && "
        "[v.duration, v.textTracks.length, [...v.textTracks[0].cues].map(c => c.text)]"), "the film's metadata")
    assert film[1] == 1 and film[2] == SENTENCES
    import json

    record = json.loads((out / "film.json").read_text())
    assert abs(film[0] - record["frames"] / shapes_config()["film"]["fps"]) < 0.2
    assert console_errors(browser) == []
    # 4. Save downloads the table of the edits (no server: nothing is written in the project)
    assert "Opened from a file" in text_of(browser, "#mode")
    assert browser.find_element(By.ID, "plan").get_attribute("disabled") is not None
    seed = edit(browser)
    click(browser, "#save")
    saved = wait(browser, lambda d: (downloads / "five.tsv").is_file() and (downloads / "five.tsv"), "the download")
    assert saved.read_text() == expected_table(seed)
    assert "overrides: {five: overrides/five.tsv}" in text_of(browser, "#message")
    assert not (finished / "overrides").exists()
    assert console_errors(browser) == []


def stamps(out):
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for d in ("candidates", "latents", "segments")
            for p in (out / d).rglob("*") if p.is_file()}


@pytest.mark.e2e
def test_served_pick_reword_reroll_save_and_the_next_run_does_exactly_that(finished, browser, server, snakemake_run):

    from machine_imagination.latents import Latents

    out = finished / "results" / "five"
    browser.get(server)
    assert "Served by machine-imagination review: Save writes overrides/five.tsv" in text_of(browser, "#mode")
    seed = edit(browser)
    # 1. the reworded prompt's parts and weights, as the pipeline's own parser reads them
    parts = wait(browser, lambda d: d.execute_script(
        "return [...document.querySelectorAll('#s3 .parts .part')].map(p => p.textContent)"), "the prompt's parts")
    assert parts == ["a big green diamond × 1", "blurry × -0.3"]
    # 2. what the next run redoes: a dry run with the pending table
    click(browser, "#plan")
    rows = wait(browser, lambda d: d.execute_script(
        "return [...document.querySelectorAll('#plan-out table.plan tr')].slice(1)"
        ".map(r => [...r.cells].map(c => c.textContent))"), "the plan", timeout=180)
    writes = [path for _, outputs, _ in rows for path in outputs.split()]
    blocks = {stage: {p.split("/")[2].split(".")[0] for p in writes if p.startswith(f"receipts/{stage}/")}
              for stage in ("search", "judge", "keep", "render")}  # a job per sentence, per segment here
    assert blocks == {"search": {"0000", "0003"}, "judge": {"0000", "0003"}, "keep": {"0000", "0002", "0003"},
                      "render": {"0000", "0001", "0002", "0003"}}, blocks
    # 3. Save: the table, and the line of config that names it
    click(browser, "#save")
    wait(browser, lambda d: "Saved" in text_of(d, "#message"), "the save")
    table = finished / "overrides" / "five.tsv"
    assert table.read_text() == expected_table(seed)
    line = re.search(r"add this line to the config: (overrides: \{five: overrides/five\.tsv\})",
                     text_of(browser, "#message")).group(1)
    with open(finished / "config.yaml", "a") as config:
        config.write(line + "\n")
    # 4. the next run: exactly the work the edits ask for
    before = stamps(out)
    kept_before = Latents.load(out / "latents" / "0002.npz").candidates
    run = snakemake_run(finished, "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    after = stamps(out)
    changed = sorted(name for name in after if after[name] != before.get(name))
    assert sorted({name.split("/")[1] for name in changed if name.startswith("candidates/")}) == ["0000", "0003"]
    assert [n for n in changed if not n.startswith("candidates/")] == [
        "latents/0000.npz", "latents/0002.npz", "latents/0003.npz",
        "segments/0000.mp4", "segments/0001.mp4", "segments/0002.mp4", "segments/0003.mp4"]
    picked = Latents.load(out / "latents" / "0002.npz").candidates
    assert (picked.kept, picked.picked_by) == (1, "overrides") and picked.seeds == kept_before.seeds
    assert Latents.load(out / "latents" / "0000.npz").candidates.seeds[0] == int(seed)
    assert Latents.load(out / "latents" / "0003.npz").sentence.prompt == PROMPT
    # 5. the page shows the new run; the plan of the saved table now has nothing left to do
    browser.get(server)
    assert text_of(browser, "#s2 .kept-image figcaption") == "kept: take 1 (picked)"
    assert "config names no overrides table" not in text_of(browser, "#mode")  # it follows the config's new line
    click(browser, "#plan")
    wait(browser, lambda d: "nothing to do" in text_of(d, "#plan-out"), "an empty plan", timeout=180)
    assert console_errors(browser) == []
    screenshot(browser)


def screenshot(driver):
    """README's picture of the page: its top and two sentences, one pending pick (MI_REVIEW_SCREENSHOT keeps it)."""
    from selenium.webdriver.common.by import By

    if driver.find_element(By.ID, "details").get_attribute("hidden") is None:  # the plan's panel: closed
        click(driver, "#show-changes")
    driver.execute_script("window.scrollTo(0, 0)")
    click(driver, "h1")
    press(driver, "j", "0")  # sentence 1: take 0 instead of the judge's
    driver.set_window_size(1280, 1350)
    driver.execute_script("window.scrollTo(0, 0)")
    png = driver.get_screenshot_as_png()
    driver.set_window_size(1280, 1000)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("MI_REVIEW_SCREENSHOT"):
        Path(os.environ["MI_REVIEW_SCREENSHOT"]).write_bytes(png)


@pytest.mark.e2e
def test_a_table_broken_by_hand_is_shown_with_its_line_and_never_overwritten(finished, browser, server):
    from selenium.webdriver.common.by import By

    table = finished / "overrides" / "five.tsv"
    table.parent.mkdir(exist_ok=True)
    kept = table.read_bytes() if table.is_file() else None
    broken = "index\tcandidate\n2\t1\n4\tbest\n"
    table.write_text(broken)
    try:
        browser.get(server)
        assert ("overrides table 'overrides/five.tsv', line 3: candidate 'best' is not a whole number"
                in text_of(browser, "#message"))
        click(browser, "h1")
        press(browser, "j", "0")  # sentence 1, take 0
        assert browser.find_element(By.ID, "save").get_attribute("disabled") is not None
        browser.execute_script("document.getElementById('save').disabled = false")  # a careless click gets through
        click(browser, "#save")
        time.sleep(1)
        assert table.read_text() == broken
    finally:
        table.write_bytes(kept) if kept is not None else table.unlink()


def test_two_hundred_sentences_of_eight_takes_load_only_what_is_in_view(tmp_path, browser):
    """The page of a long text stays small and loads its images lazily (bench/review_scale.py measures it)."""
    from machine_imagination.report.review import THUMBNAILS, review_page_job

    root = tmp_path / "results" / "long"
    fake_results(root, 200, 8, side=64)
    review_page_job(fake_settings("long", candidates=8), root / "review.html", root / THUMBNAILS)
    assert (root / "review.html").stat().st_size < 1_000_000  # images referenced, never inlined
    browser.get((root / "review.html").as_uri())
    total = browser.execute_script("return document.images.length")
    time.sleep(1)
    loaded = browser.execute_script("return [...document.images].filter(i => i.complete && i.naturalWidth).length")
    assert total == 200 + 200 and 0 < loaded < total / 4  # each row: its kept image, its strip of takes
    browser.execute_script("document.getElementById('s150').scrollIntoView()")
    wait(browser, lambda d: d.execute_script("const i = document.querySelector('#s150 .kept-image img'); "
                                             "return i.complete && i.naturalWidth > 0"), "a far row's image")
    assert console_errors(browser) == []
