import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pinned import RENDER_TOLERANCE, pixel_problems
from machine_imagination.latents import Latents, LatentsError, SearchOutcome, Sentence

LANDED = Path(__file__).parent / "data" / "landed-latents"  # written by the landed main before the record had a type


def record():
    rng = np.random.default_rng(0)
    return Latents(
        noise=rng.normal(size=128).astype(np.float32),
        class_vector=rng.normal(size=1000).astype(np.float32),
        truncation=0.7,
        seed=42,
        sentence=Sentence(text="t", index=3, sentence="A red fox.", prompt="a red fox", clip_prompt="a red fox"),
        provenance={"settings": {"seed": 1}, "packages": {"torch": "2"}},
    )


def test_round_trip_without_pickle(tmp_path):
    record().save(tmp_path / "0000.npz")
    loaded = Latents.load(tmp_path / "0000.npz")
    assert np.array_equal(loaded.noise, record().noise) and loaded.noise.dtype == np.float32
    assert loaded.sentence.prompt == "a red fox" and loaded.seed == 42 and loaded.truncation == 0.7
    assert loaded.provenance == {"settings": {"seed": 1}, "packages": {"torch": "2"}}
    with np.load(tmp_path / "0000.npz", allow_pickle=False) as plain:  # readable by numpy alone
        assert set(plain.files) == set(record().to_arrays())
        assert plain["prompt"].item() == "a red fox" and plain["class_logits"].shape == (1000,)


def test_same_content_gives_identical_bytes(tmp_path):
    record().save(tmp_path / "a.npz")
    record().save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]  # no temporary files left


def test_unreadable_and_incomplete_files_are_named(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(LatentsError, match="junk.npz' cannot be read"):
        Latents.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", noise=np.zeros(128))
    with pytest.raises(LatentsError, match="partial.npz' lacks truncation, class_logits"):
        Latents.load(tmp_path / "partial.npz")


def _arrays_with(**changed):
    return {**record().to_arrays(), **changed}


@pytest.mark.parametrize("arrays, message", [
    (_arrays_with(noise=np.full(128, np.nan, np.float32)), "holds noise with NaN or infinite values"),
    (_arrays_with(class_logits=np.full(1000, np.inf, np.float32)), "holds class_logits with NaN or infinite values"),
    (_arrays_with(noise=np.zeros(128, np.int64)), "holds noise of type int64, not floating-point numbers"),
    (_arrays_with(noise=np.array("a fox")), "holds noise of type <U5, not floating-point numbers"),
    (_arrays_with(noise=np.zeros((2, 64), np.float32)), r"holds noise of shape \(2, 64\), not a vector"),
    (_arrays_with(noise=np.zeros(7, np.float32)), "holds noise of 7 values, but the generator takes 128"),
    (_arrays_with(class_logits=np.zeros(999, np.float32)), "class_logits of 999 values, but the generator takes 1000"),
    (_arrays_with(truncation=np.float64(2.0)), r"holds truncation 2.0, not in \(0, 1\]"),
    (_arrays_with(provenance="{not json"), "holds a malformed entry"),
    (_arrays_with(index=np.array("three")), "holds a malformed entry"),
])
def test_a_valid_archive_that_holds_no_renderable_point_is_set_aside(tmp_path, arrays, message):
    """Like a truncated file, it is renamed <name>.damaged (no output: the manifest skips it), so that
    its job runs again; a sound file next to it stays."""
    from machine_imagination.latents import LatentShape, damaged_latents, save_arrays, set_aside

    save_arrays(tmp_path / "0001.npz", arrays)
    record().save(tmp_path / "0002.npz")
    shape = LatentShape(z_dim=128, num_classes=1000, embed_dim=128)
    messages = [set_aside(path, problem)
                for path, problem in damaged_latents([tmp_path / "0001.npz", tmp_path / "0002.npz"], shape)]
    assert len(messages) == 1 and f"latents file '{tmp_path / '0001.npz'}' " in messages[0]
    assert re.search(message, messages[0]) and messages[0].endswith("set aside as '0001.npz.damaged' to be made again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.npz.damaged", "0002.npz"]


def test_set_aside_files_are_no_outputs(tmp_path):
    """The manifest never lists a set-aside file, and `verify` ignores one (also where an older manifest
    listed it, before it was removed)."""
    import hashlib
    import json

    from machine_imagination.report.manifest import output_files, verify_manifest

    record().save(tmp_path / "latents" / "0000.npz")
    (tmp_path / "latents" / "0001.npz.damaged").write_bytes(b"cut sh")
    assert [p.name for p in output_files(tmp_path)] == ["0000.npz"]
    kept = hashlib.sha256((tmp_path / "latents" / "0000.npz").read_bytes()).hexdigest()
    files = {"latents/0000.npz": kept, "latents/0001.npz.damaged": "0" * 64}
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}))
    (tmp_path / "latents" / "0001.npz.damaged").unlink()
    assert verify_manifest(tmp_path) == []

@pytest.mark.parametrize("name", ["search-logits", "search-embedding", "sample", "notebook"])
def test_files_written_before_the_record_had_a_type_load_and_save_unchanged(tmp_path, name):
    latents = Latents.load(LANDED / f"{name}.npz")
    latents.save(tmp_path / "again.npz")
    assert (tmp_path / "again.npz").read_bytes() == (LANDED / f"{name}.npz").read_bytes()


def test_files_written_before_the_record_had_a_type_hold_what_they_held():
    logits, embedding = Latents.load(LANDED / "search-logits.npz"), Latents.load(LANDED / "search-embedding.npz")
    assert logits.class_mode == "logits" and logits.class_vector.shape == (1000,) and not logits.grayscale
    assert embedding.class_mode == "embedding" and embedding.class_vector.shape == (128,) and embedding.grayscale
    assert logits.sentence == Sentence(text="t", index=0, sentence="A fox.", prompt="a fox:1 | rain:-0.5",
                                       clip_prompt="a fox:1 | rain:-0.5", prompt_truncated=False)
    assert logits.seed == 9 and logits.search.optimizer == "cma-es" and logits.search.initial_class == "random-mix"
    assert -1 <= logits.search.judge2_similarity <= 1 and embedding.search.judge2_similarity is None
    assert logits.search.best_iteration in (0, 1, 2) and len(logits.search.history["loss_best"]) == 3
    assert logits.search.loss == pytest.approx(min(logits.search.history["loss_best"]))
    assert logits.provenance["settings"]["search"]["population"] == 4
    sample, notebook = Latents.load(LANDED / "sample.npz"), Latents.load(LANDED / "notebook.npz")
    assert sample.sentence is None and sample.search is None and sample.seed == 3 and sample.truncation == 0.4
    assert notebook.source == "nb_noise.txt + nb_class.txt" and notebook.truncation == 0.8


def rendered_landed_files(generator) -> dict:
    """The stills of the landed files and a walk between two of them, as `frames.npz` holds them."""
    from machine_imagination.film.walk import render_transition
    from machine_imagination.render import render_still

    records = {name: Latents.load(LANDED / f"{name}.npz")
               for name in ("search-logits", "search-embedding", "sample", "notebook")}
    frames = {f"still-{name}": render_still(generator, latents, 64) for name, latents in records.items()}
    walk = render_transition(generator, records["search-logits"], records["search-embedding"], 3, 64, 2,
                             "ease-in-out")
    frames["walk-logits-embedding"] = np.concatenate(list(walk))
    walk = render_transition(generator, records["sample"], records["notebook"], 3, 64, 2)
    frames["walk-sample-notebook"] = np.concatenate(list(walk))
    return frames


def test_files_written_before_the_record_had_a_type_render_and_walk_as_they_did(generator):
    # frames.npz: rendered by the landed main from the same files, compared pixel by pixel within the
    # rounding of another CPU kind (tests/pinned.py: RENDER_TOLERANCE)
    rendered = rendered_landed_files(generator)
    with np.load(LANDED / "frames.npz") as frames:
        assert sorted(frames.files) == sorted(rendered)
        problems = [p for name, image in rendered.items()
                    for p in pixel_problems(f"frames.npz: {name}", frames[name], image, RENDER_TOLERANCE, "pixels")]
    assert not problems, "\n".join(problems)


def test_class_embedding_of_logits_is_the_softmax_mix_of_the_class_embeddings(generator):
    latents = record()
    p = np.exp(latents.class_vector.astype(np.float64))
    p /= p.sum()
    expected = p @ generator.class_embeddings().double().numpy()
    assert np.allclose(latents.class_embedding(generator).numpy(), expected, atol=1e-5)
    embedding = replace(latents, class_vector=expected.astype(np.float32), class_mode="embedding")
    assert np.array_equal(embedding.class_embedding(generator).numpy(), expected.astype(np.float32))


def test_a_search_outcome_round_trips(tmp_path):
    outcome = SearchOutcome(loss=12.5, similarity=0.875, start_loss=20.0, best_iteration=4, optimizer="adam",
                            initial_class="random-class", clip="clip-tiny", judge_similarity=0.5,
                            history={"loss_best": np.array([20.0, 12.5])})
    replace(record(), search=outcome, grayscale=True).save(tmp_path / "s.npz")
    loaded = Latents.load(tmp_path / "s.npz")
    assert loaded.grayscale and loaded.search.judge2_similarity is None
    assert replace(loaded.search, history={}) == replace(outcome, history={})
    assert np.array_equal(loaded.search.history["loss_best"], [20.0, 12.5])


def test_notebook_text_files_round_trip(tmp_path):
    from machine_imagination.latents import from_notebook, to_notebook

    noise_txt, class_txt = to_notebook(record(), tmp_path / "fox")
    assert noise_txt.name == "fox_noise.txt" and class_txt.name == "fox_class.txt"
    assert len(class_txt.read_text().splitlines()) == 1000
    back = from_notebook(noise_txt, class_txt, truncation=0.7)
    assert np.allclose(back.noise, record().noise, atol=1e-6)
    softmax = lambda v: np.exp(v - v.max()) / np.exp(v - v.max()).sum()  # noqa: E731
    assert np.allclose(softmax(back.class_vector.astype(np.float64)),
                       softmax(record().class_vector.astype(np.float64)), atol=1e-7)
    back.save(tmp_path / "fox.npz")
    assert Latents.load(tmp_path / "fox.npz").truncation == 0.7


def test_notebook_files_of_the_wrong_size_are_named(tmp_path):
    from machine_imagination.latents import from_notebook

    (tmp_path / "a_noise.txt").write_text("\n".join(["0.1"] * 100))
    (tmp_path / "a_class.txt").write_text("\n".join(["0.001"] * 1000))
    with pytest.raises(LatentsError, match="a_noise.txt' holds 100 numbers, expected 128"):
        from_notebook(tmp_path / "a_noise.txt", tmp_path / "a_class.txt")
    (tmp_path / "b_noise.txt").write_text("x\ny\n")
    with pytest.raises(LatentsError, match="b_noise.txt' cannot be read"):
        from_notebook(tmp_path / "b_noise.txt", tmp_path / "a_class.txt")



def test_the_run_start_check_and_repair_read_the_receipts_alike(tmp_path):
    """A product a receipt lists that is missing or cut short is named by the run's start check and set
    aside by `repair` (its receipt removed); a latents file at its size that does not load is set aside by
    `repair` alone (the start check stats files only); a search's stored iterations are not loaded as
    latents; an unreadable receipt is named, then removed."""
    from machine_imagination.receipts import Receipt, check_products, repair

    root = tmp_path / "results" / "t"
    good, cut, garbled = (root / "latents" / f"{i:04d}.npz" for i in range(3))
    for path in (good, cut, garbled):
        record().save(path)
    steps = root / "candidates" / "0000" / "0-steps.npz"
    steps.parent.mkdir(parents=True)
    steps.write_bytes(b"not latents, and not loaded as such")
    Receipt.of("keep", "0000-0002", {}, root, [good, cut, garbled]).save(root / "receipts" / "keep" / "0000-0002.json")
    Receipt.of("search", "0000", {}, root, [steps]).save(root / "receipts" / "search" / "0000.json")
    (root / "receipts" / "judge").mkdir(parents=True)
    (root / "receipts" / "judge" / "0000.json").write_text("{cut")
    cut.write_bytes(cut.read_bytes()[:100])
    size = garbled.stat().st_size
    garbled.write_bytes(bytes(size))  # the same size, so only loading it tells
    problems = check_products(root)
    assert problems[0].startswith("receipts/judge/0000.json: unreadable receipt")
    assert problems[1:] == [(f"latents/0001.npz (listed by receipts/keep/0000-0002.json): 100 bytes, {size} when it "
                             "was made")]
    messages = repair(root)
    assert messages == ["receipts/judge/0000.json: unreadable, removed",
                        ("receipts/keep/0000-0002.json removed: latents/0001.npz damaged, set aside as 0001.npz.damaged; "
                         "latents/0002.npz damaged, set aside as 0002.npz.damaged")]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "candidates/0000/0-steps.npz", "latents/0000.npz", "latents/0001.npz.damaged", "latents/0002.npz.damaged",
        "receipts/search/0000.json"]
    assert check_products(root) == []
