"""The `machine-imagination` command on the tiny offline models."""
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from machine_imagination.cli import main
from machine_imagination.latents import Latents, to_notebook
from test_walk_and_film import decode


@pytest.fixture()
def config(tmp_path, tiny_models):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "texts": {"t": "t.txt"},
        "generator": {"model": str(tiny_models[0])},
        "clip": {"model": str(tiny_models[1]), "pretrained": None},
        "search": {"iterations": 3, "population": 4, "crops": 2, "device": "cpu"},
        "judge": {"crops": 2},
    }))
    return str(path)


def test_every_command_has_help():
    for command in ([], ["sample"], ["interpolate"], ["search"], ["walk"], ["models", "fetch"], ["check"], ["verify"]):
        run = subprocess.run([sys.executable, "-m", "machine_imagination.cli", *command, "--help"],
                             capture_output=True, text=True)
        assert run.returncode == 0 and "usage: machine-imagination" in run.stdout


def test_sample_grid_and_latents(tmp_path, config):
    out = tmp_path / "grid.png"
    assert main(["sample", "cheeseburger", "--seeds", "1", "2", "--samples", "3", "--truncation", "0.4",
                 "--out", str(out), "--latents-dir", str(tmp_path / "lat"), "--config", config]) == 0
    assert Image.open(out).size == (3 * 128, 2 * 128)
    files = sorted(p.name for p in (tmp_path / "lat").iterdir())
    assert files == [f"seed{s}_{k:02d}.npz" for s in (1, 2) for k in range(3)]
    record = Latents.load(tmp_path / "lat" / "seed2_01.npz")
    assert record.class_vector.argmax() == 933 and np.abs(record.noise).max() <= 0.8 + 1e-6
    by_index = tmp_path / "grid933.png"
    main(["sample", "933", "--seeds", "1", "2", "--samples", "3", "--out", str(by_index), "--config", config])
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(by_index)))


def test_unknown_class_suggests_names(tmp_path, config, capsys):
    assert main(["sample", "cheesburger", "--out", str(tmp_path / "x.png"), "--config", config]) == 2
    assert "unknown ImageNet class 'cheesburger'; did you mean: cheeseburger" in capsys.readouterr().err


def test_interpolate_grid_and_video(tmp_path, config, capsys):
    grid = tmp_path / "i.png"
    assert main(["interpolate", "cheeseburger:1", "red fox:2", "--steps", "5", "--out", str(grid), "--config", config]) == 0
    image = np.asarray(Image.open(grid))
    assert image.shape == (128, 5 * 128, 3)
    sample = tmp_path / "a.png"
    main(["sample", "cheeseburger", "--seeds", "1", "--samples", "1", "--out", str(sample), "--config", config])
    assert np.abs(image[:, :128].astype(int) - np.asarray(Image.open(sample))).max() <= 1  # starts at A
    video = tmp_path / "i.mp4"
    assert main(["interpolate", "933:1", "277:2", "--steps", "6", "--mode", "slerp", "--out", str(video),
                 "--config", config]) == 0
    assert len(decode(video)[1]) == 6
    assert main(["interpolate", "933", "277:2", "--out", str(video), "--config", config]) == 2
    assert "must be CLASS:SEED" in capsys.readouterr().err


def test_search_one_prompt(tmp_path, config):
    out = tmp_path / "s"
    assert main(["search", "a red fox", "--seed", "3", "--out", str(out), "--config", config,
                 "--iterations", "2"]) == 0
    assert {p.name for p in out.iterdir()} == {"latents.npz", "image.png", "history.tsv", "history.png", "progress.mp4",
                                               "candidates"}
    assert {p.name for p in (out / "candidates").iterdir()} == {  # the search as the pipeline's jobs leave it
        f"0{suffix}" for suffix in (".npz", ".png", ".tsv", "-history.png", "-steps.npz", "-judge.json", ".mp4")}
    assert len(decode(out / "progress.mp4")[1]) == 2
    assert Latents.load(out / "latents.npz").sentence.prompt == "a red fox"


def test_search_with_candidates_keeps_the_best_judge_score_and_draws_the_sheet(tmp_path, config):
    out = tmp_path / "s"
    assert main(["search", "a red fox", "--seed", "3", "--out", str(out), "--config", config, "--iterations", "2",
                 "--candidates", "3", "--no-video"]) == 0
    assert {p.name for p in (out / "candidates").iterdir()} == {
        f"{k}{suffix}" for k in range(3) for suffix in (".npz", ".png", ".tsv", "-history.png", "-steps.npz", "-judge.json")}
    kept = Latents.load(out / "latents.npz")
    scores = [json.loads((out / "candidates" / f"{k}-judge.json").read_text())["judge_similarity"] for k in range(3)]
    assert kept.candidates.kept == int(np.argmax(scores)) and kept.candidates.scores == tuple(scores)
    assert kept.candidates.seeds[0] == 3
    assert (out / "image.png").read_bytes() == (out / "candidates" / f"{kept.candidates.kept}.png").read_bytes()
    assert Image.open(out / "candidates.png").width > 3 * 160
    assert main(["search", "a red fox", "--out", str(out), "--config", config, "--candidates", "0"]) == 2


def test_search_runs_on_the_configs_threads_with_blas_on_one(tmp_path, config):
    path = tmp_path / "threads.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(open(config)), "search": {
        **yaml.safe_load(open(config))["search"], "threads": 2}}))
    out = tmp_path / "s"
    assert main(["search", "a red fox", "--out", str(out), "--config", str(path), "--iterations", "1", "--no-video"]) == 0
    assert Latents.load(out / "latents.npz").provenance["threads"] == {"torch": 2, "blas": 1}


def test_walk_npz_and_notebook_pairs_with_captions(tmp_path, config):
    latents = []
    for k, name in enumerate(("cheeseburger", "red fox", "lighthouse")):
        main(["sample", name, "--seeds", str(k), "--samples", "1", "--out", str(tmp_path / f"{k}.png"),
              "--latents-dir", str(tmp_path / "lat"), "--config", config])
        latents.append(tmp_path / "lat" / f"seed{k}_00.npz")
    noise_txt, _ = to_notebook(Latents.load(latents[2]), tmp_path / "nb")
    out = tmp_path / "walk.mp4"
    assert main(["walk", str(latents[0]), str(latents[1]), str(noise_txt), "--hold", "3", "--steps", "4",
                 "--fps", "10", "--caption", "one", "--caption", "two", "--caption", "three", "--out", str(out),
                 "--config", config]) == 0
    meta, frames = decode(out)
    assert len(frames) == 3 * 3 + 3 * 4  # loops back to the first image, as the notebook's walk did
    assert main(["walk", str(latents[0]), str(latents[1]), "--no-loop", "--hold", "2", "--steps", "2",
                 "--out", str(out), "--config", config]) == 0
    assert len(decode(out)[1]) == 2 * 2 + 2


def test_walk_errors_are_clear(tmp_path, config, capsys):
    short = tmp_path / "short_noise.txt"
    short.write_text("\n".join(["0.1"] * 100))
    (tmp_path / "short_class.txt").write_text("\n".join(["0.001"] * 1000))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    np.savez(tmp_path / "wide.npz", noise=np.zeros(120), class_logits=np.zeros(1000), truncation=1.0)
    cases = [
        ([str(short), str(short)], "short_noise.txt' holds 100 numbers, expected 128"),
        ([str(tmp_path / "junk.npz"), str(short)], "junk.npz' cannot be read"),
        ([str(tmp_path / "wide.npz"), str(tmp_path / "wide.npz")], "noise has 120 values, the generator takes 128"),
        ([str(tmp_path / "x.png"), str(tmp_path / "y.png")], "give a .npz latents file"),
        ([str(tmp_path / "junk.npz")], "at least two latents files"),
    ]
    for files, message in cases:
        assert main(["walk", *files, "--out", str(tmp_path / "w.mp4"), "--config", config]) == 2
        assert message in capsys.readouterr().err


def test_models_fetch_uses_the_pipelines_fetching(tmp_path, tiny_models, monkeypatch, capsys):
    from test_fetch import clip_source, fake_source, generator_files

    config = tmp_path / "real.yaml"
    config.write_text(yaml.safe_dump({"texts": {"t": "t.txt"}, "generator": {"model": "biggan-deep-512"},
                                      "clip": {"model": "ViT-B-32", "pretrained": "openai"}}))
    assert main(["models", "fetch", "--config", str(config)]) == 2
    assert "give --cache DIR or set weights.cache" in capsys.readouterr().err
    calls = fake_source({**generator_files(tiny_models), **clip_source(tiny_models, monkeypatch)}, monkeypatch)
    assert main(["models", "fetch", "--config", str(config), "--cache", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert f"biggan-deep-512 -> {tmp_path / 'cache' / 'biggan' / 'biggan-deep-512'}" in out
    assert (tmp_path / "cache" / "open_clip" / "ViT-B-32-openai" / "SHA256SUMS").is_file()
    assert len(calls) == 3


def test_check_layers_config_files_as_snakemake_does_and_exits_0_only_when_the_project_would_run(
        tmp_path, tiny_models, monkeypatch, capsys):
    """`check` with several --configfile: a later file's keys override an earlier one's, key by key; with
    none, config/config.yaml. It loads the model files (a checkpoint whose archive is sound but that a
    safe load refuses is found), says which latents `repair` would set aside, moving none, and stops as a run
    would on a file that a receipt lists at another size."""
    from test_models import _damaged_copy, _executing_pickle

    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("A red fox. A blue whale.")
    base = {"texts": {"t": "t.txt"}, "generator": {"model": str(tiny_models[0])},
            "clip": {"model": str(tiny_models[1]), "pretrained": None}, "search": {"iterations": 3}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "more.yaml").write_text(yaml.safe_dump({"search": {"population": 10**9}}))
    assert main(["check", "--configfile", "base.yaml"]) == 0
    assert capsys.readouterr().out.endswith("OK: the project would run: t (2 sentences)\n")
    assert main(["check", "--configfile", "base.yaml", "more.yaml"]) == 2
    err = capsys.readouterr().err
    assert "config key 'search.population': 1000000000 is greater than the maximum of 10000" in err
    assert "search.iterations" not in err  # base.yaml's keys stay (a merge, not a replacement)
    assert main(["check"]) == 2 and "config file 'config/config.yaml'" in capsys.readouterr().err
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(base))
    assert main(["check"]) == 0
    # a latents file a run would set aside: named, left where it is
    bad = tmp_path / "results" / "t" / "latents" / "0001.npz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"cut sh")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert f"note: latents file '{bad.relative_to(tmp_path)}' cannot be read" in out
    assert "`machine-imagination repair results/t` sets it aside" in out
    assert bad.read_bytes() == b"cut sh"
    # one that a job's receipt lists at another size: the workflow's own message, before any job
    from machine_imagination.receipts import Receipt

    bad.write_bytes(b"cut short later")
    Receipt.of("keep", "0001", {}, bad.parents[1], [bad]).save(bad.parents[1] / "receipts" / "keep" / "0001.json")
    bad.write_bytes(b"cut sh")
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "latents/0001.npz (listed by receipts/keep/0001.json): 6 bytes, 15 when it was made" in err
    assert "Run `machine-imagination repair results/t`" in err
    (bad.parents[1] / "receipts" / "keep" / "0001.json").unlink()
    # a CLIP whose archive is sound but that a safe load refuses: only loading it finds it
    unsafe = _damaged_copy(tiny_models[1], tmp_path / "unsafe", "open_clip_pytorch_model.bin", _executing_pickle)
    (tmp_path / "judge.yaml").write_text(yaml.safe_dump({"judge": {"model": str(unsafe)}}))
    assert main(["check", "--configfile", "base.yaml", "judge.yaml"]) == 2
    err = capsys.readouterr().err
    assert f"judge.model: cannot load the file '{unsafe}/open_clip_pytorch_model.bin'" in err
    assert "weights_only" not in err
