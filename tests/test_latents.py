import numpy as np
import pytest

from machine_imagination.latents import LatentsError, load_latents, save_latents


def record():
    rng = np.random.default_rng(0)
    return {
        "noise": rng.normal(size=128).astype(np.float32),
        "class_logits": rng.normal(size=1000).astype(np.float32),
        "truncation": np.float64(0.7),
        "prompt": "a red fox",
        "seed": np.int64(42),
        "provenance": {"settings": {"seed": 1}, "packages": {"torch": "2"}},
    }


def test_round_trip_without_pickle(tmp_path):
    save_latents(tmp_path / "0000.npz", record())
    loaded = load_latents(tmp_path / "0000.npz")
    assert np.array_equal(loaded["noise"], record()["noise"]) and loaded["noise"].dtype == np.float32
    assert loaded["prompt"] == "a red fox" and loaded["seed"] == 42 and loaded["truncation"] == 0.7
    assert loaded["provenance"] == {"settings": {"seed": 1}, "packages": {"torch": "2"}}
    with np.load(tmp_path / "0000.npz", allow_pickle=False) as plain:  # readable by numpy alone
        assert set(plain.files) == set(record())


def test_same_content_gives_identical_bytes(tmp_path):
    save_latents(tmp_path / "a.npz", record())
    save_latents(tmp_path / "b.npz", record())
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]  # no temporary files left


def test_unreadable_and_incomplete_files_are_named(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(LatentsError, match="junk.npz' cannot be read"):
        load_latents(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", noise=np.zeros(128))
    with pytest.raises(LatentsError, match="partial.npz' lacks class_logits, truncation"):
        load_latents(tmp_path / "partial.npz")
