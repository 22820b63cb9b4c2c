#!/usr/bin/env bash
# Refresh requirements.lock: the exact version of every package that `pip install -e '.[test]'`
# installs today (the newest releases that pyproject.toml's ranges admit), resolved in a fresh virtual
# environment by the Python that environment.yml names, with this machine's pip settings (its indexes,
# and any constraints pip is configured with, such as a cap on torch).
#
#   scripts/lock.sh                                        python3.11 -> requirements.lock
#   scripts/lock.sh python3.12 requirements-py312.lock     a lock for another Python
#
# A lock holds for the Python minor version and the platform its first lines name (one lock serves CI
# and the cluster: PyPI's Linux x86_64 torch wheels carry their CUDA libraries and run on a CPU too).
# Install from it with `pip install -c <lock> -e .` (README); then run the tests (.ci/run) and commit
# the lock in a commit of its own, saying what changed (tests/test_golden.py may need new pins).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3.11}
lock=${2:-requirements.lock}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -e '.[test]'
made_for=$("$work/venv/bin/python" -c 'import platform, sys
print(f"{platform.python_implementation()} {sys.version_info[0]}.{sys.version_info[1]} on {platform.system()} {platform.machine()}")')
{
    echo "# Exact versions of every package that \`pip install -e '.[test]'\` installs (made by scripts/lock.sh)."
    echo "# Install: pip install -c $lock -e '.[test]'   (the README's commands; environment.yml does the same)"
    echo "# for: $made_for"
    # --all: setuptools too (torch requires it at run time); not pip, the installer itself
    "$work/venv/bin/pip" freeze --all --exclude-editable | grep -v '^pip=='
} >"$lock.tmp"
mv "$lock.tmp" "$lock"
echo "$lock: $(grep -c '==' "$lock") packages for $made_for"
