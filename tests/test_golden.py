"""Pinned outputs: the offline config end to end, compared with values recorded from an earlier commit
(tests/golden/offline.json): the searched latents, the text outputs, the file list and the frame
counts exactly, the scores and the pixels (sentence images, decoded film frames) within tolerances
that hold on any x86_64 CPU kind (tests/pinned.py says what is compared how; docs/reproducibility.md
how the tolerances were measured). A difference outside them fails, naming the file and its size.

A refactor must leave every value as it is. A change of behaviour on purpose updates the file in its
own commit that says what changed and why:

    .venv/bin/python tests/test_golden.py --record              # runs the offline config, rewrites the file
    .venv/bin/python tests/test_golden.py --record-provenance   # only what the latents record of their making,
                                                                # refused if any other output differs
"""
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pinned  # noqa: E402
from conftest import REPO, snakemake  # noqa: E402

pytestmark = pytest.mark.e2e

GOLDEN = REPO / "tests" / "golden" / "offline.json"
TEXT = "the-lighthouse-keeper"


def run_offline(workdir: Path) -> Path:
    for name in ("config", "texts"):
        (workdir / name).symlink_to(REPO / name)
    run = snakemake(workdir, "--configfile", "config/offline.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    return workdir / "results" / TEXT


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    return run_offline(tmp_path_factory.mktemp("golden"))


def test_offline_outputs_equal_the_pinned_values(offline):
    problems = pinned.compare(json.loads(GOLDEN.read_text()), pinned.values(offline))
    assert not problems, "\n".join(problems)


if __name__ == "__main__":
    if sys.argv[1:] not in (["--record"], ["--record-provenance"]):
        sys.exit(__doc__)
    workdir = Path(tempfile.mkdtemp(prefix="golden-"))
    try:
        found = pinned.values(run_offline(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if sys.argv[1] == "--record-provenance":
        found = pinned.with_provenance_of(json.loads(GOLDEN.read_text()), found)
    pinned.write_values(GOLDEN, found)
    print(f"{GOLDEN}: {len(found['latents'])} latents files, {len(found['images']['names'])} images, "
          f"{found['film']['frames']} film frames")
