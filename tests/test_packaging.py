"""The project's own files agree with each other: dependencies, the lock, lint, README commands."""
import platform
import re
import subprocess
import sys

import pytest
import tomllib
import yaml

from conftest import REPO
from machine_imagination.environment import PROJECT, canonical, installed_distributions, read_lock

LOCK = REPO / "requirements.lock"


def test_environment_yml_lists_the_same_dependencies_as_pyproject_at_the_locked_versions():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e .", "-c requirements.lock"} == wanted
    assert pip[0] == "-c requirements.lock" and pip[-1] == "-e ."
    # the lock is made for the Python that environment.yml names
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert f"CPython {python.split('=')[1]} on Linux x86_64" in LOCK.read_text()


def test_every_install_command_installs_the_locked_versions():
    readme = (REPO / "README.md").read_text()
    installs = [line for block in re.findall(r"```(?:sh|bash)\n(.*?)```", readme, flags=re.S)
                for line in block.splitlines() if "pip install" in line]
    installs += [line for line in (REPO / ".ci" / "run").read_text().splitlines() if "pip install" in line]
    assert len(installs) == 3 and all("pip install -c requirements.lock -e " in line for line in installs), installs


def requirement_closure(name: str, extras=()) -> set:
    """Every distribution that installing `name[extras]` installs here (its requirements, their
    requirements, ..., with their environment markers evaluated), by canonical name."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    found, todo, seen = set(), [(name, frozenset(extras))], set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        found.add(canonical(item[0]))
        for line in requires(item[0]) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in {"", *item[1]}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return found - {PROJECT}


def test_the_installed_distributions_are_the_locked_ones():
    made_for = re.search(r"^# for: (\S+) (\d+\.\d+) on (\S+) (\S+)$", LOCK.read_text(), flags=re.M).groups()
    here = (platform.python_implementation(), "%d.%d" % sys.version_info[:2], platform.system(), platform.machine())
    if made_for != here:
        pytest.skip(f"requirements.lock is made for {' '.join(made_for)}, this is {' '.join(here)} "
                    f"(scripts/lock.sh makes one for it)")
    locked, installed = read_lock(LOCK), installed_distributions()
    different = {name: (version, installed.get(name)) for name, version in locked.items()
                 if installed.get(name) != version}
    assert not different, f"installed versions differ from requirements.lock (locked, installed): {different}"
    unlocked = requirement_closure(PROJECT, ["test"]) - locked.keys()
    assert not unlocked, f"installed but not locked (refresh the lock: scripts/lock.sh): {sorted(unlocked)}"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"```(?:sh|bash)\n(.*?)```", readme, flags=re.S)
    test_command = next(c.strip() for c in commands if "pytest" in c)
    assert test_command in (REPO / ".ci" / "run").read_text()


def test_workflow_lints_clean():
    run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Congratulations, your workflow is in a good condition!" in run.stdout + run.stderr
