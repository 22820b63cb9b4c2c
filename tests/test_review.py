"""The review page (report.review) and the server of `machine-imagination review`, on a synthetic
finished text (no run, no browser): what the page shows of a results tree and that it is one file that
references its images; the overrides table as the pipeline reads it; the server's token, paths, saves
(atomic, one at a time, never over a table it cannot read) and checks. The page in a real browser, on a
real run: tests/test_review_browser.py."""
import hashlib
import http.client
import json
import os
import re
import sys
import threading
import urllib.parse

import pytest
import yaml

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from review_scale import fake_results, fake_settings  # noqa: E402

SHAPES = REPO / "models" / "shapes"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project directory (the working directory) with a finished synthetic text, 'fake', of 4 sentences
    of 2 takes each, and a config naming its overrides table, picks.tsv (not written yet)."""
    monkeypatch.chdir(tmp_path)
    sentences = fake_results(tmp_path / "results" / "fake", 4, 2)
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "fake.txt").write_text("\n".join(sentences) + "\n")
    config = {"texts": {"fake": "texts/fake.txt"}, "text": {"split": "lines"}, "overrides": {"fake": "picks.tsv"},
              "generator": {"model": str(SHAPES / "biggan-shapes")},
              "clip": {"model": str(SHAPES / "clip-shapes"), "pretrained": None}, "search": {"candidates": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


@pytest.fixture
def served(project):
    from machine_imagination.review_server import Reviewer, ReviewServer, open_project

    server = ReviewServer(Reviewer(open_project(["config.yaml"])))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def call(server, path, body=None, method=None, raw_path=False):
    """(status, parsed JSON or bytes) of a request to the server; `path` after the token unless raw_path."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=120)
    target = path if raw_path else f"/{server.token}/{path}"
    data = None if body is None else json.dumps(body).encode()
    connection.request(method or ("GET" if body is None else "POST"), target, body=data,
                       headers={"Content-Type": "application/json"} if data else {})
    response = connection.getresponse()
    content = response.read()
    connection.close()
    kind = response.getheader("Content-Type") or ""
    return response.status, json.loads(content) if kind.startswith("application/json") else content


def state(server):
    status, body = call(server, "api/state")
    assert status == 200
    return body


def test_the_page_shows_every_sentence_and_take_of_the_results(tmp_path):
    from machine_imagination.latents import Latents
    from machine_imagination.report.review import THUMBNAILS, read_review, review_page_job

    root = tmp_path / "results" / "fake"
    fake_results(root, 3, 4)
    settings = fake_settings(candidates=4)
    review = review_page_job(settings, root / "review.html", root / THUMBNAILS)
    assert [s.index for s in review.sentences] == [0, 1, 2]
    for view in review.sentences:
        kept = Latents.load(root / "latents" / f"{view.index:04d}.npz")
        assert view.kept == kept.candidates.kept and view.picked_by == "judge"
        assert [t.score for t in view.takes] == [round(s, 5) for s in kept.candidates.scores]
        assert [t.seed for t in view.takes] == list(kept.candidates.seeds)
        for path in (view.image, view.plot, view.thumbs, *(t.image for t in view.takes),
                     *(t.plot for t in view.takes)):
            assert (root / path).is_file(), path
    assert len(review.cues) == 3 and review.cues[1][2] == review.sentences[1].sentence
    from PIL import Image

    assert Image.open(root / THUMBNAILS / "0001.jpg").size == (4 * 64, 64)  # the takes side by side, 64 px each
    page = (root / "review.html").read_text()
    # one file, nothing from a network: its script and style inside, images referenced, not inlined
    assert "<script src" not in page and "<link rel=\"stylesheet\"" not in page and "data:image" not in page
    assert set(re.findall(r"https?://[^\"'\s]+", page)) == {"http://www.w3.org/2000/svg"}  # a name, not an address
    data = page.split('<script id="review-data" type="application/json">')[1].split("</script>")[0]
    assert json.loads(data)["sentences"][2]["takes"][3]["image"] == "candidates/0002/3.png"
    assert read_review(settings, root).overrides.exists is False  # no table yet: Save makes overrides/fake.tsv


def test_a_raced_take_says_where_it_stopped_and_which_iteration_its_image_is_from(tmp_path):
    """A race's takes (search.race): stopped ones say after which iteration, and any take kept as an image
    judged before its last iteration (a candidate is kept as its best judged image) says which."""
    from dataclasses import replace

    from machine_imagination.latents import Latents, Race
    from machine_imagination.report.review import THUMBNAILS, review_page_job

    root = tmp_path / "results" / "fake"
    fake_results(root, 2, 4)
    path = root / "latents" / "0001.npz"
    race = Race(rounds=(2, 4), scores=((0.5, 0.25, 0.75, 0.625), (None, 0.5, 0.75, 0.5)), reached=(2, 4, 20, 20),
                kept=(2, 2, 4, 20))
    replace(Latents.load(path), race=race).save(path)
    review = review_page_job(fake_settings(candidates=4), root / "review.html", root / THUMBNAILS)
    said = ["stopped after 2", "stopped 4, image of 2", "image of iteration 4", None]
    assert [t.race for t in review.sentences[1].takes] == said
    assert [t.race for t in review.sentences[0].takes] == [None] * 4  # not raced
    data = (root / "review.html").read_text().split('<script id="review-data" type="application/json">')[1]
    assert [t["race"] for t in json.loads(data.split("</script>")[0])["sentences"][1]["takes"]] == said


def test_a_table_the_pipeline_cannot_read_is_shown_with_its_line_and_never_overwritten(served, project):
    broken = "index\tcandidate\n1\t1\n2\tbest\n"
    (project / "picks.tsv").write_text(broken)
    now = state(served)
    message = "overrides table 'picks.tsv', line 3: candidate 'best' is not a whole number"
    assert now["error"] == message  # the pipeline's parser's own words
    status, page = call(served, "")
    assert status == 200 and message.encode() in page
    status, answer = call(served, "api/save", {"path": "picks.tsv", "base": now["sha256"],
                                                "table": "index\tcandidate\n1\t0\n"})
    assert status == 409 and "fix it by hand" in answer["error"]
    assert (project / "picks.tsv").read_text() == broken


def test_requests_without_the_token_or_outside_the_results_are_refused(served, project):
    assert call(served, "/", raw_path=True)[0] == 403
    assert call(served, f"/{'x' * len(served.token)}/", raw_path=True)[0] == 403
    assert call(served, f"/{served.token[:-1]}/images/0000.png", raw_path=True)[0] == 403
    assert call(served, "/api/state", raw_path=True)[0] == 403
    status, _ = call(served, f"/{served.token}", raw_path=True)
    assert status == 301  # to the token's directory, whose relative links the page uses
    assert call(served, "images/0000.png")[0] == 200 and call(served, "review/0001.jpg")[0] == 200
    (project / "secret.png").write_bytes(b"not yours")
    (project / "results" / "fake" / "images" / "link.png").symlink_to(project / "secret.png")
    for path in ("images/%2e%2e/%2e%2e/%2e%2e/secret.png", "../secret.png", "%2Fetc%2Fpasswd", "/etc/passwd",
                 "prompts.tsv", "latents/0000.npz", "images/link.png", ".hidden.png"):
        status, answer = call(served, path)
        assert status == 403 and "refused" in answer["error"], path
    # Saves go to the text's overrides table and nowhere else.
    base = state(served)["sha256"]
    for path in ("../outside.tsv", "config.yaml", str(project / "picks.tsv"), "./picks.tsv", "results/fake/x.tsv"):
        status, answer = call(served, "api/save", {"path": path, "base": base, "table": "index\tcandidate\n1\t0\n"})
        assert status == 403 and "refused" in answer["error"], path
    assert not (project.parent / "outside.tsv").exists() and not (project / "picks.tsv").exists()
    assert "overrides" in yaml.safe_load((project / "config.yaml").read_text())


def tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and ".snakemake" not in p.parts}


def test_save_writes_the_table_and_nothing_else_and_a_stale_page_is_told(served, project):
    before = tree(project)
    (project / "picks.tsv").write_text("index\titerations\tcandidate\n3\t40\t\n")  # the artist's own row and column
    status, answer = call(served, "api/save", {"path": "picks.tsv", "base": None, "table": "index\tcandidate\n1\t1\n"})
    assert status == 409 and answer["overrides"]["content"] == "index\titerations\tcandidate\n3\t40\t\n"
    table = "index\titerations\tcandidate\n3\t40\t\n1\t\t1\n"
    status, answer = call(served, "api/save", {"path": "picks.tsv", "base": answer["overrides"]["sha256"],
                                                "table": table})
    assert status == 200 and answer["overrides"]["content"] == table and answer["overrides"]["error"] is None
    after = tree(project)
    assert {k for k in after if after.get(k) != before.get(k)} == {"picks.tsv"}
    # A table the pipeline would stop at is not written: the parser's message comes back.
    status, answer = call(served, "api/save", {"path": "picks.tsv", "base": answer["overrides"]["sha256"],
                                                "table": "index\tcandidate\n9\t1\n"})
    assert status == 400 and "line 2: index 9 is out of range (the text has 4 sentences)" in answer["error"]
    assert (project / "picks.tsv").read_text() == table


def test_two_saves_at_once_leave_a_whole_file(served, project):
    for round in range(10):
        tables = {name: "index\tprompt\tcandidate\n" + "".join(f"{i}\t{name} {round} " + "x" * 4000 + f"\t{i % 2}\n"
                                                             for i in range(4))
                  for name in ("one", "two")}
        base = state(served)["sha256"]
        results = {}

        def save(name):
            results[name] = call(served, "api/save", {"path": "picks.tsv", "base": base, "table": tables[name]})[0]

        threads = [threading.Thread(target=save, args=(name,)) for name in tables]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results.values()) == [200, 409]  # one saved, the other told the file changed under it
        assert (project / "picks.tsv").read_text() in tables.values()
    assert sorted(os.listdir(project)) == ["config.yaml", "picks.tsv", "results", "texts"]  # no temporary file left


def test_check_says_what_the_pipeline_will_read_of_a_pending_table(served, project):
    sentence = (project / "texts" / "fake.txt").read_text().splitlines()[2]
    status, answer = call(served, "api/check", {"table": "index\tprompt\n1\ta red circle:1 | blurry:-0.5\n"
                                                         "2\tan oil painting of {sentence}\n"})
    assert status == 200 and answer["error"] is None
    assert answer["prompts"]["1"]["parts"] == [["a red circle", 1.0], ["blurry", -0.5]]
    assert answer["prompts"]["2"]["parts"] == [[f"an oil painting of {sentence}", 1.0]]
    assert answer["prompts"]["1"]["truncated"] is False and answer["prompts"]["1"]["tokens"] > 2
    long = " ".join(["red circle"] * 40)
    status, answer = call(served, "api/check", {"table": f"index\tprompt\n0\t{long}\n"})
    assert answer["prompts"]["0"]["truncated"] is True and len(answer["prompts"]["0"]["clip_prompt"]) < len(long)
    for table, message in (("index\tprompt\n1\tblurry:-1\n", "line 2"), ("index\tseed\n0\tsome\n", "line 2: seed"),
                           ("index\tinitial_class\n0\tpurple cube\n", "line 2: unknown class"),
                           ("index\tprompt\n1\ta {colour} circle\n", "line 2: prompt 'a {colour} circle' is not a valid template")):
        status, answer = call(served, "api/check", {"table": table})
        assert status == 200 and message in answer["error"], table


def test_the_dry_run_log_becomes_the_job_list():
    from machine_imagination.review_server import dry_run_jobs

    log = """Building DAG of jobs...
[Thu Dec  3 09:53:21 2026]
rule search_0003:
    input: models/shapes/biggan-shapes/config.json
    output: results/five/candidates/0003/0.npz (update), results/five/candidates/0003/1.npz (update)
    log: logs/five/search/0003.log
    reason: Params have changed since last execution: Union of exclusive params before and now across all output
    wildcards: text=five
[Thu Dec  3 09:53:21 2026]
localrule keep_candidate:
    output: results/five/latents/0002.npz, results/five/images/0002.png
    reason: Params have changed since last execution: Union of exclusive params before and now
    wildcards: text=five, index=0002
localrule all:
    input: results/five/film.mp4
"""
    assert dry_run_jobs(log, "results/five/") == [
        {"rule": "search_0003", "outputs": ["candidates/0003/0.npz", "candidates/0003/1.npz"],
         "reason": "Params have changed since last execution", "wildcards": "text=five"},
        {"rule": "keep_candidate", "outputs": ["latents/0002.npz", "images/0002.png"],
         "reason": "Params have changed since last execution", "wildcards": "text=five, index=0002"}]


def test_the_command_names_what_is_wrong(project, capsys):
    from machine_imagination.cli import main

    config = yaml.safe_load((project / "config.yaml").read_text())
    config["texts"]["other"] = "texts/fake.txt"
    (project / "two.yaml").write_text(yaml.safe_dump(config))
    assert main(["review", "--configfile", "two.yaml", "--no-browser"]) == 2
    assert "the config has 2 texts: name the one to review (fake, other)" in capsys.readouterr().err
    assert main(["review", "--configfile", "two.yaml", "other", "--no-browser"]) == 2
    assert "'results/other' holds no prompts.tsv: run snakemake first" in capsys.readouterr().err
    assert main(["review", "--configfile", "config.yaml", "nope", "--no-browser"]) == 2
    assert "'nope' is not a text of the config (its texts: fake)" in capsys.readouterr().err


def test_config_files_layer_as_snakemake_layers_them(project):
    from machine_imagination.review_server import open_project

    (project / "more.yaml").write_text(yaml.safe_dump({"overrides": {"fake": "other.tsv"},
                                                        "search": {"iterations": 7}}))
    layered = open_project(["config.yaml", "more.yaml"])
    assert layered.settings.table == "other.tsv" and layered.settings.iterations == 7
    assert layered.settings.candidates == 2  # a key only the first file sets stays
    assert urllib.parse.quote(layered.text) == "fake"


def test_the_server_follows_the_config_as_it_changes(served, project):
    """The artist adds the line that names the table (or names another) while the page is open."""
    assert (state(served)["path"], state(served)["configured"]) == ("picks.tsv", True)
    config = yaml.safe_load((project / "config.yaml").read_text())
    del config["overrides"]
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    assert (state(served)["path"], state(served)["configured"]) == ("overrides/fake.tsv", False)
    status, page = call(served, "")
    assert b"overrides: {fake: overrides/fake.tsv}" in page  # the line to add, on the page
    (project / "config.yaml").write_text("texts: [not, a, map]\n")  # broken halfway through an edit
    assert state(served)["path"] == "overrides/fake.tsv"
    config["overrides"] = {"fake": "overrides/fake.tsv"}
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    assert (state(served)["path"], state(served)["configured"]) == ("overrides/fake.tsv", True)


def test_a_table_that_cannot_be_written_is_reported_not_a_dropped_connection(served, project):
    (project / "picks.tsv").mkdir()  # in the way of the file
    status, answer = call(served, "api/save", {"path": "picks.tsv", "base": None, "table": "index\tcandidate\n1\t1\n"})
    assert status == 500 and "picks.tsv" in answer["error"]
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []  # no temporary file left
