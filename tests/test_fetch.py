"""Fetching weights into weights.cache (machine_imagination.models.fetch), against fake sources only: the
"downloads" copy the tiny models or come from an HTTP server on 127.0.0.1. Nothing here downloads."""
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch

from machine_imagination.models import fetch
from machine_imagination.models.fetch import Announced, Fetch, FetchError

GENERATOR = "biggan-deep-512"


def fake_source(files: dict, monkeypatch, *, cut=None, announce=None):
    """Make fetch.download copy local files: `files` maps the end of a URL to a file. `cut`: bytes to
    keep of the weights (an interrupted download); `announce(path) -> Announced` overrides the headers."""
    calls = []

    def download(url, dest):
        calls.append(url)
        source = next(path for end, path in files.items() if url.endswith(end))
        data = Path(source).read_bytes()
        if cut is not None and dest.name.endswith(".bin"):
            Path(dest).write_bytes(data[:cut])
        else:
            Path(dest).write_bytes(data)
        if announce:
            return announce(data)
        return Announced(len(data), hashlib.sha256(data).hexdigest())

    monkeypatch.setattr(fetch, "download", download)
    return calls


def generator_files(tiny_models):
    return {f"{GENERATOR}-pytorch_model.bin": tiny_models[0] / "pytorch_model.bin",
            f"{GENERATOR}-config.json": tiny_models[0] / "config.json"}


def clip_source(tiny_models, monkeypatch):
    """The tiny CLIP stands in for ViT-B-32/openai: its weights are 'downloaded', its config is the one
    fetch writes for the tag."""
    tiny_config = json.loads((tiny_models[1] / "open_clip_config.json").read_text())
    monkeypatch.setattr(fetch, "clip_dir_config", lambda model, pretrained: tiny_config)
    return {"open_clip_pytorch_model.bin": tiny_models[1] / "open_clip_pytorch_model.bin"}


def looks_finished(directory: Path) -> bool:
    names = {p.name for p in directory.iterdir()} if directory.is_dir() else set()
    return bool(names & {"config.json", "pytorch_model.bin", "open_clip_config.json",
                         "open_clip_pytorch_model.bin", "SHA256SUMS"})


def no_leftovers(parent: Path) -> bool:
    return not list(parent.glob(".*partial*"))


def test_generator_is_fetched_verified_and_loads(tmp_path, tiny_models, monkeypatch):
    from machine_imagination.models.generator import load_generator

    calls = fake_source(generator_files(tiny_models), monkeypatch)
    item = Fetch("generator", GENERATOR, None, str(tmp_path / "biggan" / GENERATOR))
    fetch.fetch(item, log=lambda message: None)
    directory = Path(item.directory)
    assert sorted(p.name for p in directory.iterdir()) == ["SHA256SUMS", "config.json", "pytorch_model.bin"]
    assert (directory / "pytorch_model.bin").read_bytes() == (tiny_models[0] / "pytorch_model.bin").read_bytes()
    manifest = fetch.read_manifest(directory)
    assert manifest["config.json"] == hashlib.sha256((directory / "config.json").read_bytes()).hexdigest()
    assert fetch.is_fetched(directory, item.names) and no_leftovers(directory.parent)
    assert load_generator(str(directory)).resolution == 128
    assert [c.rsplit("/", 1)[1] for c in calls] == [f"{GENERATOR}-pytorch_model.bin", f"{GENERATOR}-config.json"]

    # Fetched once: a second fetch verifies and downloads nothing.
    fetch.fetch(item, log=lambda message: None)
    assert len(calls) == 2


def test_clip_is_fetched_into_the_open_clip_directory_format(tmp_path, tiny_models, monkeypatch):
    from machine_imagination.models.clip import load_clip

    calls = fake_source(clip_source(tiny_models, monkeypatch), monkeypatch)
    item = Fetch("clip", "ViT-B-32", "openai", str(tmp_path / "open_clip" / "ViT-B-32-openai"))
    fetch.fetch(item, log=lambda message: None)
    assert calls == ["https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/"
                     "open_clip_pytorch_model.bin"]
    fetched, original = load_clip(item.directory, None), load_clip(str(tiny_models[1]), None)
    assert fetch.is_fetched(item.directory, item.names)
    with torch.inference_mode():
        assert torch.equal(fetched.encode_text(["a fox"]), original.encode_text(["a fox"]))


@pytest.mark.parametrize("damage", ["truncated", "wrong sha256", "wrong md5", "no size", "garbage of the right size"])
def test_a_bad_download_is_refused_and_leaves_nothing_that_looks_finished(damage, tmp_path, tiny_models, monkeypatch):
    files = generator_files(tiny_models)
    weights = files[f"{GENERATOR}-pytorch_model.bin"].read_bytes()
    if damage == "truncated":
        fake_source(files, monkeypatch, cut=len(weights) // 2)
        message = "interrupted download"
    elif damage == "wrong sha256":
        fake_source(files, monkeypatch, announce=lambda data: Announced(len(data), "0" * 64))
        message = "differs from the announced"
    elif damage == "wrong md5":
        fake_source(files, monkeypatch, announce=lambda data: Announced(len(data), None, "0" * 32))
        message = "MD5"
    elif damage == "no size":
        fake_source(files, monkeypatch, announce=lambda data: Announced(None))
        message = "cannot be verified"
    else:  # the server says nothing but the size, and the bytes are not a checkpoint: the loader refuses
        garbage = tmp_path / "garbage.bin"
        garbage.write_bytes(bytes(len(weights)))
        fake_source({**files, f"{GENERATOR}-pytorch_model.bin": garbage}, monkeypatch, announce=lambda data: Announced(len(data)))
        message = "does not load"
    item = Fetch("generator", GENERATOR, None, str(tmp_path / "cache" / "biggan" / GENERATOR))
    with pytest.raises(FetchError, match=message):
        fetch.fetch(item, log=lambda message: None)
    assert not looks_finished(Path(item.directory))
    assert no_leftovers(tmp_path / "cache" / "biggan")
    assert not fetch.is_fetched(item.directory, item.names)


def test_weights_that_do_not_match_their_config_are_refused(tmp_path, tiny_models, monkeypatch):
    config = json.loads((tiny_models[0] / "config.json").read_text())
    config["channel_width"] = 16
    other = tmp_path / "config.json"
    other.write_text(json.dumps(config))
    fake_source({**generator_files(tiny_models), f"{GENERATOR}-config.json": other}, monkeypatch)
    item = Fetch("generator", GENERATOR, None, str(tmp_path / "cache" / GENERATOR))
    with pytest.raises(FetchError, match="does not load"):
        fetch.fetch(item, log=lambda message: None)
    assert not looks_finished(Path(item.directory)) and no_leftovers(tmp_path / "cache")


class _Server(http.server.ThreadingHTTPServer):
    files: dict
    truncate: bool = False


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        data = self.server.files[name]
        if self.path.startswith("/hub/"):  # like the Hugging Face hub: a redirect that names size and SHA-256
            self.send_response(302)
            self.send_header("Location", f"/cdn/{name}")
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        if self.path.startswith("/s3/"):  # like S3: the ETag is the MD5
            self.send_header("ETag", f'"{hashlib.md5(data).hexdigest()}"')
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if self.server.truncate and name.endswith(".bin") else data)


@pytest.fixture
def server(tiny_models):
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.files = {name: path.read_bytes() for name, path in generator_files(tiny_models).items()}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


@pytest.mark.parametrize("route", ["s3", "hub"])
def test_download_reads_what_the_server_announces(route, server, tmp_path):
    url = f"http://127.0.0.1:{server.server_port}/{route}/{GENERATOR}-pytorch_model.bin"
    expected = fetch.download(url, tmp_path / "w.bin")
    data = server.files[f"{GENERATOR}-pytorch_model.bin"]
    assert expected.size == len(data)
    if route == "s3":
        assert expected.md5 == hashlib.md5(data).hexdigest() and expected.sha256 is None
    else:
        assert expected.sha256 == hashlib.sha256(data).hexdigest()
    assert fetch.verify(tmp_path / "w.bin", expected, url) == hashlib.sha256(data).hexdigest()


def test_a_connection_that_drops_mid_file_fetches_nothing(server, tmp_path, monkeypatch):
    base = f"http://127.0.0.1:{server.server_port}/s3"
    monkeypatch.setattr(fetch, "generator_remotes", lambda name: [
        fetch.Remote(f"{base}/{name}-pytorch_model.bin", "pytorch_model.bin"),
        fetch.Remote(f"{base}/{name}-config.json", "config.json")])
    item = Fetch("generator", GENERATOR, None, str(tmp_path / "cache" / GENERATOR))
    server.truncate = True
    with pytest.raises(FetchError, match="pytorch_model.bin"):
        fetch.fetch(item, log=lambda message: None)
    assert not looks_finished(Path(item.directory)) and no_leftovers(tmp_path / "cache")
    server.truncate = False
    fetch.fetch(item, log=lambda message: None)
    assert fetch.is_fetched(item.directory, item.names)


def test_the_clip_directory_config_is_what_loading_by_name_and_tag_builds():
    config = fetch.clip_dir_config("ViT-B-32", "openai")
    assert config["model_cfg"]["quick_gelu"] is True  # OpenAI's weights were trained with QuickGELU
    assert config["model_cfg"]["vision_cfg"]["patch_size"] == 32
    assert config["preprocess_cfg"]["mean"] == [0.48145466, 0.4578275, 0.40821073]
    assert "quick_gelu" not in fetch.clip_dir_config("ViT-B-32", "laion2b_s34b_b79k")["model_cfg"]
    with pytest.raises(FetchError, match="no pretrained tag"):
        fetch.clip_remote("ViT-B-32", "nonesuch")


def test_the_plan_fetches_named_models_only_and_points_the_config_at_the_cache(monkeypatch):
    monkeypatch.setenv("MI_TEST_COMMON", "/common/group/me")
    config = {"generator": {"model": GENERATOR, "truncation": 1.0},
              "clip": {"model": "ViT-B-32", "pretrained": "openai"},
              "judge": {"model": "ViT-B-32", "pretrained": "openai", "crops": 8},
              "weights": {"cache": "$MI_TEST_COMMON/mi-weights/"}}
    plan = fetch.weights_plan(config)
    root = "/common/group/me/mi-weights"
    assert plan == [Fetch("generator", GENERATOR, None, f"{root}/biggan/{GENERATOR}"),
                    Fetch("clip", "ViT-B-32", "openai", f"{root}/open_clip/ViT-B-32-openai")]
    changed = fetch.cached_config(config, plan)
    assert changed["generator"] == {"model": f"{root}/biggan/{GENERATOR}", "truncation": 1.0}
    assert changed["clip"] == {"model": f"{root}/open_clip/ViT-B-32-openai", "pretrained": None}
    assert changed["judge"] == {"model": f"{root}/open_clip/ViT-B-32-openai", "pretrained": None, "crops": 8}
    assert plan[0].files[-1] == f"{root}/biggan/{GENERATOR}/SHA256SUMS"

    assert fetch.weights_plan({**config, "weights": {"cache": None}}) == []
    local = {**config, "generator": {"model": "models/biggan"}, "clip": {"model": "models/clip", "pretrained": None},
             "judge": {"model": None, "pretrained": None}}
    assert fetch.weights_plan(local) == []
    with pytest.raises(ValueError, match="weights.cache"):
        fetch.weights_plan({**config, "weights": {"cache": "$MI_TEST_UNSET_VARIABLE/w"}})


def test_the_workflow_fetches_once_then_jobs_load_from_the_cache(tmp_path, tiny_models, monkeypatch, snakemake_run):
    from test_workflow import make_project, small_config

    cache = tmp_path / "weights"
    config = small_config(generator={"model": GENERATOR, "truncation": 1.0},
                          clip={"model": "ViT-B-32", "pretrained": "openai"}, weights={"cache": str(cache)})
    project = make_project(tmp_path / "project", config, b"A fox trots along the sand.\nA boat sails home.\n")

    plan = snakemake_run(project, "--configfile", "config.yaml", "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "fetch_generator" in plan.stdout and "fetch_clip" in plan.stdout
    assert f"{cache}/biggan/{GENERATOR}/pytorch_model.bin" in plan.stdout  # a search input

    # Fill the cache as the fetch rules would (the tiny models standing in for the real ones) ...
    fake_source({**generator_files(tiny_models), **clip_source(tiny_models, monkeypatch)}, monkeypatch)
    for item in fetch.weights_plan(config):
        fetch.fetch(item, log=lambda message: None)
    # ... and the search, judge and keep jobs run with no network, from the cache alone.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run = snakemake_run(project, "--until", "keep", "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fetch_" not in run.stdout + run.stderr
    from machine_imagination.latents import Latents

    record = Latents.load(project / "results/four/latents/0001.npz")
    assert record.generator == f"{cache}/biggan/{GENERATOR}"
