"""The installed distributions and the lock (machine_imagination.environment)."""
from machine_imagination.environment import lock_differences, read_lock


def test_the_lock_is_read_by_canonical_name_and_compared(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# for: CPython 3.11 on Linux x86_64\nPyYAML==6.0.4\nopen_clip_torch==3.3.0\ntorch==2.14.1\n")
    assert read_lock(lock) == {"pyyaml": "6.0.4", "open-clip-torch": "3.3.0", "torch": "2.14.1"}
    installed = {"pyyaml": "6.0.4", "open-clip-torch": "3.3.1", "ruff": "0.9.0", "pip": "23.2.1",
                 "machine-imagination": "0.1.0"}
    assert lock_differences(read_lock(lock), installed) == {"open-clip-torch": ["3.3.0", "3.3.1"],
                                                            "ruff": [None, "0.9.0"], "torch": ["2.14.1", None]}
