"""What a run runs on, so that a rerun years later knows whether it runs on the same: every installed
Python distribution (and how they differ from the lock, `requirements.lock`), the Python, the
pipeline's commit, and the machine: the CPU kind and the GPU model (floating-point results round
differently on another kind). The manifest records it (`Environment.here`, with the machines the
search and render jobs ran on: `job_machine`, in their timing records); a rerun compares it with a
finished text's manifest before any job (`report.manifest.rerun_warning`) and `machine-imagination
verify` reports what differs with the command that reinstalls what made the film (`Changes`).

Nothing here imports torch: the main Snakemake process reads the CPU from /proc/cpuinfo and the GPU
from nvidia-smi (a job, which has torch loaded, names the GPU it used: `job_machine`)."""
from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

LOCK = "requirements.lock"
ROOT = Path(__file__).resolve().parents[2]  # the checkout, for the editable install the README makes
PROJECT = "machine-imagination"


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (PyYAML, pyyaml; open_clip_torch, open-clip-torch)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- the machine


@dataclass(frozen=True)
class Machine:
    """A machine as results depend on it. `cpu`: the CPU kind, its architecture, vendor and the widest
    vector instructions torch uses there (`x86_64 AuthenticAMD avx2`; ATEN_CPU_CAPABILITY lowers it);
    `gpu`: the GPU model the networks ran on (None on the CPU); `cpu_model`: what the CPU calls itself
    (recorded, not compared: the same kind rounds the same)."""

    cpu: str
    gpu: str | None = None
    cpu_model: str = ""

    def kind(self) -> tuple[str, str | None]:
        return self.cpu, self.gpu

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict) -> Machine:
        return cls(cpu=value.get("cpu", ""), gpu=value.get("gpu"), cpu_model=value.get("cpu_model", ""))


def cpu_kind(cpuinfo: str | None = None, environ=os.environ) -> tuple[str, str]:
    """(the CPU kind, the CPU's model name), from /proc/cpuinfo (its first processor) where there is one."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields = {}
    for line in cpuinfo.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    arch = platform.machine() or "unknown"
    vendor = fields.get("vendor_id") or (f"arm-{fields['CPU implementer']}" if "CPU implementer" in fields
                                        else platform.processor() or "unknown")
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        isa = "avx512"
    elif {"avx2", "fma"} <= flags:
        isa = "avx2"
    elif "sve" in flags:
        isa = "sve"
    else:
        isa = "default"
    # torch's kernels use no more than ATEN_CPU_CAPABILITY allows (default < avx2 < avx512)
    order = ["default", "avx2", "avx512"]
    asked = environ.get("ATEN_CPU_CAPABILITY", "").lower()
    if isa in order and asked in order and order.index(asked) < order.index(isa):
        isa = asked
    model = fields.get("model name") or fields.get("CPU part", "")
    return f"{arch} {vendor} {isa}", model


def visible_gpu() -> str | None:
    """The model of the first GPU this process may use, as nvidia-smi names it (None without one)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "NoDevFiles"):
        return None
    try:
        found = subprocess.run(["nvidia-smi", "--query-gpu=index,name", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    gpus = dict(line.split(", ", 1) for line in found.stdout.splitlines() if ", " in line)
    if found.returncode != 0 or not gpus:
        return None
    first = (visible or "").split(",")[0].strip()
    return gpus.get(first) or next(iter(gpus.values()))


def uses_gpu(config: dict) -> bool:
    """Whether the config's searches or renders may run on a GPU (device auto or cuda)."""
    return any(config.get(section, {}).get("device", "auto") != "cpu" for section in ("search", "film"))


def this_machine(config: dict) -> Machine:
    """This machine, as the jobs of `config` would use it when they run here."""
    cpu, model = cpu_kind()
    return Machine(cpu=cpu, gpu=visible_gpu() if uses_gpu(config) else None, cpu_model=model)


def job_machine() -> Machine:
    """The machine a job runs on, with the GPU its torch has used (None if it never touched CUDA)."""
    cpu, model = cpu_kind()
    torch = sys.modules.get("torch")
    gpu = None
    if torch is not None and torch.cuda.is_initialized():
        gpu = torch.cuda.get_device_name(torch.cuda.current_device())
    return Machine(cpu=cpu, gpu=gpu, cpu_model=model)


# --------------------------------------------------------------------------- the software


def installed_distributions() -> dict[str, str]:
    """Every distribution importable here, by canonical name (the first one on sys.path, as imports see)."""
    from importlib.metadata import distributions

    found = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonical(name), dist.version)
    return dict(sorted(found.items()))


def read_lock(path: Path) -> dict[str, str]:
    """A lock's `name==version` lines, by canonical name."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


def lock_differences(locked: dict[str, str], installed: dict[str, str]) -> dict[str, list]:
    """{name: [locked version, installed version]} where they differ (None: not locked, or not installed);
    pip, the installer, and the project itself are not locked."""
    unlocked = {"pip", PROJECT}
    names = (locked.keys() | installed.keys()) - unlocked
    return {n: [locked.get(n), installed.get(n)] for n in sorted(names) if locked.get(n) != installed.get(n)}


def pipeline_commit(root: Path = ROOT) -> tuple[str | None, bool | None]:
    """The commit of the checkout the package runs from, and whether its tracked files differ from it
    (None, None when it does not run from a git checkout)."""
    if not (root / ".git").exists():
        return None, None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None, None
    if head.returncode != 0 or status.returncode != 0:
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class Environment:
    """What a run ran on (the manifest's `environment`). `machine`: where Snakemake ran (and the local
    jobs); `jobs`: per stage (search, segments), each machine its jobs ran on and how many sentences or
    segments it made; `lock`: the lock file's SHA-256 and the differences from it, where one was found."""

    python: str
    distributions: dict[str, str]
    machine: Machine
    commit: str | None = None
    dirty: bool | None = None
    lock: dict | None = None
    jobs: dict[str, list[dict]] = field(default_factory=dict)

    @classmethod
    def here(cls, config: dict, *, jobs: dict[str, list[dict]] | None = None, lock_path: Path = ROOT / LOCK,
             with_commit: bool = True) -> Environment:
        installed = installed_distributions()
        lock = None
        if lock_path.is_file():
            lock = {"file": lock_path.name, "sha256": hashlib.sha256(lock_path.read_bytes()).hexdigest(),
                    "differences": lock_differences(read_lock(lock_path), installed)}
        commit, dirty = pipeline_commit() if with_commit else (None, None)
        return cls(python=platform.python_version(), distributions=installed, machine=this_machine(config),
                   commit=commit, dirty=dirty, lock=lock, jobs=jobs or {})

    def to_json(self) -> dict:
        return {"python": self.python, "distributions": self.distributions, "machine": self.machine.to_json(),
                "pipeline": {"commit": self.commit, "dirty": self.dirty}, "lock": self.lock, "jobs": self.jobs}

    @classmethod
    def from_manifest(cls, manifest: dict) -> Environment | None:
        """The environment a manifest records; for a manifest written before it did, its `packages` (the
        versions of ten packages, nothing of the machine). None when it records neither."""
        value = manifest.get("environment")
        if value is None:
            packages = manifest.get("packages")
            if not packages:
                return None
            return cls(python="", distributions={canonical(k): v for k, v in packages.items() if v},
                       machine=Machine(cpu=""))
        pipeline = value.get("pipeline") or {}
        return cls(python=value.get("python", ""), distributions=value.get("distributions", {}),
                   machine=Machine.from_json(value.get("machine") or {}), commit=pipeline.get("commit"),
                   dirty=pipeline.get("dirty"), lock=value.get("lock"), jobs=value.get("jobs") or {})

    def job_machines(self) -> list[Machine]:
        """Every machine the recorded jobs ran on (none recorded: where Snakemake ran)."""
        found = []
        for machines in self.jobs.values():
            for entry in machines:
                machine = Machine.from_json(entry)
                if machine not in found:
                    found.append(machine)
        return found or ([self.machine] if self.machine.cpu else [])

    def ran_here(self) -> bool:
        """Whether its jobs ran where Snakemake ran (a workstation, CI) rather than on other nodes (a
        cluster): only then does this machine say what the next run's jobs run on."""
        return all(machine.kind() == self.machine.kind() for machine in self.job_machines()) and bool(self.machine.cpu)


def machine_counts(machines: list[Machine]) -> list[dict]:
    """A stage's jobs' machines (one per sentence or segment made) as the manifest lists them."""
    counted: dict[Machine, int] = {}
    for machine in machines:
        counted[machine] = counted.get(machine, 0) + 1
    return [{**machine.to_json(), "count": count} for machine, count in counted.items()]


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Changes:
    """How this environment differs from a recorded one: packages {name: (recorded, here)} (None: not
    installed), the Python, the machine kind (only where it is known what the next jobs run on), and the
    pipeline's commit (reported, never warned about: Snakemake reruns what an edit touches)."""

    packages: dict[str, tuple[str | None, str | None]]
    python: tuple[str, str] | None = None
    cpu: tuple[str, str] | None = None
    gpu: tuple[str | None, str | None] | None = None
    commit: tuple[str, str | None] | None = None

    def __bool__(self) -> bool:
        return bool(self.packages or self.python or self.cpu or self.gpu)

    def named(self) -> list[str]:
        """Each difference in a few words: 'torch 2.14.1 (the film: 2.13.0)'."""
        named = [f"{name} {here or 'not installed'} (the film: {recorded or 'not installed'})"
                 for name, (recorded, here) in self.packages.items()]
        if self.python:
            named.insert(0, f"Python {self.python[1]} (the film: {self.python[0]})")
        if self.cpu:
            named.append(f"CPU kind {self.cpu[1]} (the film: {self.cpu[0]})")
        if self.gpu:
            named.append(f"GPU {self.gpu[1] or 'none'} (the film: {self.gpu[0] or 'none'})")
        return named

    def reinstall_command(self, python: str = sys.executable, root: Path = ROOT) -> str | None:
        """The command that puts back the recorded versions of what differs, into this environment (and
        the pipeline's recorded commit, where it differs); None when no package or commit differs."""
        steps = []
        if self.commit:
            steps.append(f"git -C {shlex.quote(str(root))} checkout {self.commit[0]}")
        wanted = [f"{name}=={recorded}" for name, (recorded, _) in self.packages.items()
                  if recorded and name != PROJECT]
        if wanted:
            steps.append(" ".join([shlex.quote(python), "-m", "pip", "install", "--no-deps",
                                   *map(shlex.quote, wanted)]))
        return " && ".join(steps) or None


def compare(recorded: Environment, here: Environment, *, machines: bool = True) -> Changes:
    """What differs between a recorded environment and this one. Packages: those the record lists (a
    manifest from before the environment was recorded lists ten), and those installed here that it does
    not; the machine (with `machines`) only where the recorded jobs ran where Snakemake did."""
    names = recorded.distributions.keys() | (here.distributions.keys() if recorded.python else set())
    packages = {name: (recorded.distributions.get(name), here.distributions.get(name)) for name in sorted(names)
                if name != PROJECT and recorded.distributions.get(name) != here.distributions.get(name)}
    python = (recorded.python, here.python) if recorded.python and recorded.python != here.python else None
    cpu = gpu = None
    if machines and recorded.ran_here():
        then = recorded.job_machines()[0]
        if then.cpu != here.machine.cpu:
            cpu = (then.cpu, here.machine.cpu)
        if then.gpu != here.machine.gpu:
            gpu = (then.gpu, here.machine.gpu)
    commit = None
    if recorded.commit and recorded.commit != here.commit:
        commit = (recorded.commit, here.commit)
    return Changes(packages=packages, python=python, cpu=cpu, gpu=gpu, commit=commit)
