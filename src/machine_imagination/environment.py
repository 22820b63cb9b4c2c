"""The installed Python distributions, and how they differ from the lock (`requirements.lock`: the exact
versions the README, CI and environment.yml install; scripts/lock.sh refreshes it)."""
from __future__ import annotations

import re
from pathlib import Path

LOCK = "requirements.lock"
ROOT = Path(__file__).resolve().parents[2]  # the checkout, for the editable install the README makes
PROJECT = "machine-imagination"


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (PyYAML, pyyaml; open_clip_torch, open-clip-torch)."""
    return re.sub(r"[-_.]+", "-", name).lower()


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
