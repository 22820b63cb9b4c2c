"""A novel in one run: the plan of a 3,000-sentence text has a job per block and stage (a fixed number of
rules), and an edit of one sentence plans exactly its block's search, judge and keep jobs and the
render jobs holding the two segments that walk from and to it (planned against a project whose
outputs are in place: `snakemake --touch` over files made by this test, no search is run)."""
import re

import pytest
import yaml

from conftest import REPO, snakemake

pytestmark = pytest.mark.e2e

SENTENCES = 3000
WORDS = ["sea", "storm", "lantern", "fox", "boat", "dawn", "cliff", "gull", "rain", "harbour", "keeper", "bell"]


def novel(edited: int | None = None) -> str:
    """Distinct sentences in paragraphs of ten; `edited`: that sentence's words changed."""
    lines = [f"The {WORDS[i % 12]} and the {WORDS[(7 * i + 3) % 12]} {'part' if i == edited else 'meet'} at hour {i}."
             for i in range(SENTENCES)]
    return "\n\n".join("\n".join(lines[i:i + 10]) for i in range(0, SENTENCES, 10)) + "\n"


def plan(project) -> tuple[dict, set, str]:
    run = snakemake(project, "--configfile", "config.yaml", "--dry-run")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout, re.MULTILINE))
    jobs = set()
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)*)", run.stdout, re.MULTILINE):
        block = re.search(r"(?:block|page)=([\d-]+)", body)
        if rule != "all":
            jobs.add(f"{rule}:{block.group(1)}" if block else rule)
    return counts, jobs, run.stdout


def test_a_novel_plans_a_job_per_block_and_an_edit_plans_its_blocks_alone(tmp_path):
    project = tmp_path / "novel"
    (project / "texts").mkdir(parents=True)
    (project / "texts" / "novel.txt").write_text(novel())
    config = yaml.safe_load((REPO / "config" / "offline.yaml").read_text())
    config["texts"] = {"novel": "texts/novel.txt"}
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    # 1. the plan: a job per block of 25 sentences and stage, a page of the contact sheet per 100
    counts, jobs, out = plan(project)
    blocks = SENTENCES // 25
    assert {rule: int(counts[rule]) for rule in ("search", "judge", "keep", "render", "contact_sheet")} == {
        "search": blocks, "judge": blocks, "keep": blocks, "render": blocks, "contact_sheet": SENTENCES // 100}
    assert len({rule for rule in counts if rule != "total"}) < 20, "the rules do not grow with the text"
    # 2. every output in place (empty files, receipts listing nothing), recorded as made by this plan
    for path in sorted(set(re.findall(r"^    output: (.*)$", out, re.MULTILINE))):
        for name in path.split(", "):
            target = project / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith("/review"):  # the review page's thumbnails: a directory
                target.mkdir(exist_ok=True)
                continue
            target.write_text('{"stage": "", "block": "", "identity": {}, "products": {}}'
                              if "/receipts/" in name else "")
    touched = snakemake(project, "--configfile", "config.yaml", "--touch", "--forceall")
    assert touched.returncode == 0, touched.stdout[-3000:] + touched.stderr[-3000:]
    assert plan(project)[1] == set(), "nothing left to do"
    # 3. an edit of sentence 1510, inside its block: its search, judge and keep block, the render block
    # holding segments 1509 and 1510, and what shows every sentence
    shows_all = {"split_text", "write_subtitles", "summarize", "assemble_film", "review_page", "tabulate_timings",
                 "write_manifest"}
    (project / "texts" / "novel.txt").write_text(novel(edited=1510))
    assert plan(project)[1] == {"search:1500-1524", "judge:1500-1524", "keep:1500-1524", "render:1500-1524",
                                "contact_sheet:-016"} | shows_all
    # 4. an edit of sentence 1500, the first of its block: the render block before it too (its last segment
    # walks to sentence 1500), nothing else
    (project / "texts" / "novel.txt").write_text(novel(edited=1500))
    found = plan(project)[1]
    assert {job for job in found if job.split(":")[0] in ("search", "judge", "keep", "render")} == {
        "search:1500-1524", "judge:1500-1524", "keep:1500-1524", "render:1475-1499", "render:1500-1524"}
