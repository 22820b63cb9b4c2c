"""The SLURM profile against a real SLURM: the offline pipeline through sbatch on the local test cluster.

Start the cluster first (root, apt): `scripts/local-slurm.sh start` (.ci/run does). Without it the
integration test is skipped, unless MI_REQUIRE_SLURM=1 (set by .ci/run) turns the skip into a failure.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import REPO
from test_workflow import make_project, small_config

pytestmark = pytest.mark.slurm

TEXT = b"A keeper climbs the spiral stairs.\nThe sea turns violet.\nAt dawn a fox trots along the sand.\n"
SNAKEMAKE_TIMEOUT = 600  # seconds; the run takes about a minute and a half on 2 cores


def _flatten(tree, prefix=""):
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


def test_the_test_profile_differs_from_the_hcc_profile_only_in_names_and_polling():
    real = _flatten(yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text()))
    test = _flatten(yaml.safe_load((REPO / "profiles" / "slurm-test" / "config.yaml").read_text()))
    allowed = re.compile(r"(.*\.)?(slurm_partition|constraint)$|slurm-init-seconds-before-status-checks$")
    differing = {k for k in real.keys() | test.keys() if real.get(k) != test.get(k)}
    assert {k for k in differing if not allowed.match(k)} == set()
    assert real["executor"] == test["executor"] == "slurm"
    for rule in ("search", "judge", "progress", "render"):
        assert real[f"set-resources.{rule}.gres"] == "gpu:1"
        assert real[f"set-resources.{rule}.slurm_partition"] == "gpu"
        assert real[f"set-resources.{rule}.gpu"] == 0  # the plugin refuses gpu and gres together
    assert real["default-resources.slurm_partition"] == "batch"
    assert real["slurm-requeue"] is True


def _run(*cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kwargs)


def _slurm_unavailable():
    """Why the local test cluster cannot be used here, or None."""
    if not shutil.which("sbatch") or not shutil.which("sacct"):
        return "no SLURM client (sbatch, sacct): start the test cluster with `scripts/local-slurm.sh start` (root)"
    try:
        nodes = _run("sinfo", "-h", "-o", "%P %T %f")
        accounting = _run("sacct", "-n", "-X", "-S", "now-1minute")
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"SLURM does not answer: {err}"
    if nodes.returncode != 0:
        return f"SLURM is not running (sinfo: {nodes.stderr.strip()}): scripts/local-slurm.sh start"
    if accounting.returncode != 0:
        return f"SLURM accounting is not running (sacct: {accounting.stderr.strip()})"
    partitions = {line.split()[0].rstrip("*") for line in nodes.stdout.splitlines() if line.strip()}
    if not {"batch", "gpu"} <= partitions or "tgpu" not in nodes.stdout:
        return f"this is not the local test cluster of scripts/local-slurm.sh (partitions {sorted(partitions)})"
    if not re.search(r"\b(idle|mixed)", nodes.stdout):
        return f"no idle node: {nodes.stdout.strip()}"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = _slurm_unavailable()
    if reason:
        if os.environ.get("MI_REQUIRE_SLURM") == "1":
            pytest.fail(f"MI_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)


def snakemake_through_slurm(workdir, *args, timeout=SNAKEMAKE_TIMEOUT):
    """Snakemake with the test profile, killed hard after `timeout` seconds.

    Snakemake ignores SIGTERM while it waits on SLURM (and loops forever if sacct fails), so on
    time-out its whole process group gets SIGKILL and the jobs it submitted are cancelled.
    """
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--profile", str(REPO / "profiles" / "slurm-test"), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        ids = re.findall(r"submitted with SLURM jobid (\d+)", out)
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True)
        pytest.fail(f"snakemake did not finish within {timeout} s; killed, jobs {ids} cancelled.\n{out[-6000:]}")
    return proc.returncode, out


def sacct_jobs(ids, wait=30):
    """JobID -> sacct fields of the given jobs, once accounting has recorded them all as finished."""
    fields = ["JobID", "Partition", "ReqTRES", "Constraints", "State", "Comment", "Timelimit"]
    deadline = time.monotonic() + wait
    while True:
        run = _run("sacct", "-n", "-X", "-P", "-j", ",".join(ids), "-o", ",".join(fields))
        jobs = {}
        for line in run.stdout.splitlines():
            values = line.split("|")
            jobs[values[0]] = dict(zip(fields, values))
        if set(jobs) >= set(ids) and all(j["State"] not in ("PENDING", "RUNNING") for j in jobs.values()):
            return jobs
        if time.monotonic() > deadline:
            return jobs
        time.sleep(1)


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory):
    # Three sentences in blocks of two: jobs for sentences 0-1 and for sentence 2, searches and renders.
    config = small_config(texts={"three": "texts/four.txt"}, **{"search.sentences_per_job": 2, "film.segments_per_job": 2})
    workdir = make_project(tmp_path_factory.mktemp("slurm-project"), config, TEXT)
    code, out = snakemake_through_slurm(workdir, "--configfile", "config.yaml")
    assert code == 0, out[-8000:]
    ids = re.findall(r"submitted with SLURM jobid (\d+)", out)
    return workdir, out, ids


def test_the_offline_pipeline_runs_through_sbatch(slurm_run):
    workdir, out, ids = slurm_run
    assert (workdir / "results" / "three" / "film.mp4").stat().st_size > 0
    assert sorted(p.name for p in (workdir / "results" / "three" / "latents").iterdir()) == [
        "0000.npz", "0001.npz", "0002.npz"]
    assert len(ids) >= 6, out[-4000:]  # a search, a judge and a render job per block of two sentences


def test_search_judge_and_render_jobs_asked_sacct_for_a_gpu(slurm_run):
    _, out, ids = slurm_run
    jobs = sacct_jobs(ids)
    assert set(jobs) == set(ids), f"sacct lacks some submitted jobs: {sorted(set(ids) - set(jobs))}"
    by_job = {}
    for job in jobs.values():
        rule = re.match(r"rule_(\w+?)_wildcards_|rule_(\w+)$", job["Comment"])
        block = re.search(r"_(\d{4}(?:-\d{4})?)(?:_[0-9a-f]{16})?$", job["Comment"])  # render: its digest last
        by_job.setdefault(f"{next(g for g in rule.groups() if g)}:{block.group(1) if block else ''}", []).append(job)
    # One sbatch per block and stage rule; each takes the profile's set-resources for its rule by name.
    blocks = [f"{rule}:{block}" for rule in ("search", "judge", "render") for block in ("0000-0001", "0002")]
    assert {name: len(by_job.get(name, [])) for name in blocks} == dict.fromkeys(blocks, 1), sorted(by_job)
    for name, named in by_job.items():
        for job in named:
            assert job["State"] == "COMPLETED", job
            if name.startswith(("search:", "judge:", "render:")):
                assert job["Partition"] == "gpu", job
                assert "gres/gpu=1" in job["ReqTRES"], job
                assert job["Constraints"] == "tgpu", job
            else:  # any other rule that is not local runs on the CPU partition, without a GPU
                assert job["Partition"] == "batch" and "gres/gpu" not in job["ReqTRES"], job
    # The time limit grows with the block: 60 minutes per sentence's search, 30 per segment.
    for name, limit in {"search:0000-0001": "02:00:00", "search:0002": "01:00:00", "render:0000-0001": "01:00:00"}.items():
        assert by_job[name][0]["Timelimit"] == limit, by_job[name][0]
    search = by_job["search:0002"][0]
    assert "cpu=4" in search["ReqTRES"] and "mem=16000M" in search["ReqTRES"]


def test_jobs_are_requeued_after_preemption_or_node_failure(slurm_run):
    _, _, ids = slurm_run
    # slurmctld still holds finished jobs for MinJobAge (300 s in scripts/local-slurm.sh).
    shown = _run("scontrol", "show", "job", ids[-1])
    assert shown.returncode == 0, shown.stderr
    assert "Requeue=1" in shown.stdout
