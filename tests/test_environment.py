"""What a run records of its environment (machine_imagination.environment) and how a rerun compares with
it. The whole path through Snakemake and `verify` is tests/test_workflow.py's."""
import sys

import pytest

from machine_imagination.environment import (Changes, Environment, Machine, compare, cpu_kind, lock_differences,
                                             read_lock)

EPYC = """processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7B13
flags		: fpu sse sse2 avx fma avx2 bmi2

processor	: 1
vendor_id	: AuthenticAMD
"""
XEON = "vendor_id : GenuineIntel\nmodel name : Intel Xeon\nflags : avx2 fma avx512f avx512bw avx512vl avx512dq\n"


def test_the_cpu_kind_is_the_vendor_and_the_vector_instructions_torch_uses(monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert cpu_kind(EPYC, environ={}) == ("x86_64 AuthenticAMD avx2", "AMD EPYC 7B13")
    assert cpu_kind(XEON, environ={})[0] == "x86_64 GenuineIntel avx512"
    # ATEN_CPU_CAPABILITY lowers what torch uses, and with it the rounding (never raises it)
    assert cpu_kind(XEON, environ={"ATEN_CPU_CAPABILITY": "avx2"})[0] == "x86_64 GenuineIntel avx2"
    assert cpu_kind(EPYC, environ={"ATEN_CPU_CAPABILITY": "default"})[0] == "x86_64 AuthenticAMD default"
    assert cpu_kind(EPYC, environ={"ATEN_CPU_CAPABILITY": "avx512"})[0] == "x86_64 AuthenticAMD avx2"


def test_the_lock_is_read_by_canonical_name_and_compared(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# for: CPython 3.11 on Linux x86_64\nPyYAML==6.0.4\nopen_clip_torch==3.3.0\ntorch==2.14.1\n")
    assert read_lock(lock) == {"pyyaml": "6.0.4", "open-clip-torch": "3.3.0", "torch": "2.14.1"}
    installed = {"pyyaml": "6.0.4", "open-clip-torch": "3.3.1", "ruff": "0.9.0", "pip": "23.2.1",
                 "machine-imagination": "0.1.0"}
    assert lock_differences(read_lock(lock), installed) == {"open-clip-torch": ["3.3.0", "3.3.1"],
                                                            "ruff": [None, "0.9.0"], "torch": ["2.14.1", None]}


def here(cpu="x86_64 AuthenticAMD avx2", gpu=None, **distributions):
    return Environment(python="3.11.7", distributions={"numpy": "2.4.6", "torch": "2.14.1", **distributions},
                       machine=Machine(cpu=cpu, gpu=gpu), commit="b" * 40)


def test_a_local_run_compares_packages_python_and_machine():
    made = Environment(python="3.11.7", distributions={"numpy": "2.4.5", "torch": "2.14.1", "cma": "4.5.0"},
                       machine=Machine(cpu="x86_64 GenuineIntel avx512"), commit="a" * 40,
                       jobs={"search": [{"cpu": "x86_64 GenuineIntel avx512", "gpu": None, "count": 4}]})
    changes = compare(made, here())
    assert changes.packages == {"cma": ("4.5.0", None), "numpy": ("2.4.5", "2.4.6")}
    assert changes.cpu == ("x86_64 GenuineIntel avx512", "x86_64 AuthenticAMD avx2") and changes.gpu is None
    assert changes.named() == ["cma not installed (the film: 4.5.0)", "numpy 2.4.6 (the film: 2.4.5)",
                               "CPU kind x86_64 AuthenticAMD avx2 (the film: x86_64 GenuineIntel avx512)"]
    command = changes.reinstall_command(python="/v/bin/python", root="/repo")
    assert command == (f"git -C /repo checkout {'a' * 40} && "
                       "/v/bin/python -m pip install --no-deps cma==4.5.0 numpy==2.4.5")
    assert not compare(here(), here()) and compare(here(), here()).reinstall_command() is None


def test_jobs_that_ran_on_other_nodes_leave_the_machine_out_of_the_comparison():
    # a cluster: Snakemake on a CPU node, the searches on GPU nodes; where the next jobs run is SLURM's choice
    made = Environment(python="3.11.7", distributions=here().distributions,
                       machine=Machine(cpu="x86_64 GenuineIntel avx2"),
                       jobs={"search": [{"cpu": "x86_64 GenuineIntel avx512", "gpu": "NVIDIA A30", "count": 9}]})
    assert not made.ran_here() and not compare(made, here())
    # the same GPU run on one workstation: the GPU model is compared
    local = Environment(python="3.11.7", distributions=here().distributions,
                        machine=Machine(cpu="x86_64 AuthenticAMD avx2", gpu="NVIDIA A30"),
                        jobs={"search": [{"cpu": "x86_64 AuthenticAMD avx2", "gpu": "NVIDIA A30", "count": 9}]})
    assert compare(local, here()).named() == ["GPU none (the film: NVIDIA A30)"]


def test_a_manifest_from_before_the_environment_was_recorded_compares_its_ten_packages():
    old = Environment.from_manifest({"packages": {"torch": "2.13.0", "numpy": "2.4.6", "pysbd": None}})
    changes = compare(old, here(ruff="0.9.0"))
    assert changes.packages == {"torch": ("2.13.0", "2.14.1")} and not changes.cpu and not changes.python
    assert Environment.from_manifest({"files": {}}) is None


def test_the_environment_here_records_every_distribution_and_the_lock(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==0.1\n")
    found = Environment.here({"search": {"device": "cpu"}, "film": {"device": "cpu"}}, lock_path=lock)
    assert found.distributions["numpy"] == __import__("numpy").__version__ and "pytest" in found.distributions
    assert found.lock["differences"]["numpy"] == ["0.1", found.distributions["numpy"]]
    assert found.python == "%d.%d.%d" % sys.version_info[:3] and found.machine.gpu is None
    assert Environment.from_manifest({"environment": found.to_json()}) == found


@pytest.mark.parametrize("changes, warned", [(Changes(packages={}), False),
                                             (Changes(packages={}, commit=("a", "b")), False),
                                             (Changes(packages={}, gpu=("NVIDIA A30", None)), True)])
def test_a_new_commit_alone_is_reported_not_warned_about(changes, warned):
    assert bool(changes) == warned
