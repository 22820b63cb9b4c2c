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
    with pytest.raises(LatentsError, match="partial.npz' lacks truncation, class_logits"):
        load_latents(tmp_path / "partial.npz")


def test_notebook_text_files_round_trip(tmp_path):
    from machine_imagination.latents import from_notebook, to_notebook

    noise_txt, class_txt = to_notebook(record(), tmp_path / "fox")
    assert noise_txt.name == "fox_noise.txt" and class_txt.name == "fox_class.txt"
    assert len(class_txt.read_text().splitlines()) == 1000
    back = from_notebook(noise_txt, class_txt, truncation=0.7)
    assert np.allclose(back["noise"], record()["noise"], atol=1e-6)
    softmax = lambda v: np.exp(v - v.max()) / np.exp(v - v.max()).sum()  # noqa: E731
    assert np.allclose(softmax(back["class_logits"].astype(np.float64)),
                       softmax(record()["class_logits"].astype(np.float64)), atol=1e-7)
    save_latents(tmp_path / "fox.npz", back)
    assert load_latents(tmp_path / "fox.npz")["truncation"] == 0.7


def test_notebook_files_of_the_wrong_size_are_named(tmp_path):
    from machine_imagination.latents import from_notebook

    (tmp_path / "a_noise.txt").write_text("\n".join(["0.1"] * 100))
    (tmp_path / "a_class.txt").write_text("\n".join(["0.001"] * 1000))
    with pytest.raises(LatentsError, match="a_noise.txt' holds 100 numbers, expected 128"):
        from_notebook(tmp_path / "a_noise.txt", tmp_path / "a_class.txt")
    (tmp_path / "b_noise.txt").write_text("x\ny\n")
    with pytest.raises(LatentsError, match="b_noise.txt' cannot be read"):
        from_notebook(tmp_path / "b_noise.txt", tmp_path / "a_class.txt")
