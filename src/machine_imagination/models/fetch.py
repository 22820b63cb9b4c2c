"""Fetching the named models' weights once, into a cache directory that offline compute nodes read
(or, without one, into the libraries' own caches before any job needs them: `download_named`).

With `weights.cache` set, the workflow's local rules (workflow/rules/weights.smk) call `fetch` where
the network is, and the config is rewritten (`cached_config`) so that every job loads the models from
that cache through the loaders' local-directory formats (see `models.generator`, `models.clip`):

    <cache>/biggan/biggan-deep-512/    config.json + pytorch_model.bin          (generator.model)
    <cache>/open_clip/ViT-B-32-openai/ open_clip_config.json + open_clip_pytorch_model.bin
                                                                                (clip, judge)
    each directory also holds SHA256SUMS (`sha256sum -c SHA256SUMS` checks it).

A download goes into a temporary directory next to its destination, is checked against the size and
hash the server announces (Content-Length or X-Linked-Size; X-Linked-Etag is the SHA-256 of a file
on the Hugging Face hub, an S3 ETag its MD5), then loaded once through the real loader (which refuses
a checkpoint whose tensors do not match its config), and only then renamed into place, the file the
loaders look for first (the config) last. An interrupted or corrupt download therefore never leaves
a directory that looks finished.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .clip import CLIP_DIR_FILES, clip_is_named
from .generator import BIGGAN_FILES, BIGGAN_NAMES

MANIFEST = "SHA256SUMS"
HF_WEIGHTS = "open_clip_pytorch_model.bin"  # open_clip's default file in a hub repository
CHUNK = 1 << 20


class FetchError(RuntimeError):
    """Weights could not be fetched or did not verify; nothing was put in place."""


# --------------------------------------------------------------------------- what to fetch where


@dataclass(frozen=True)
class Fetch:
    """One model to fetch: `kind` generator (a BigGAN name) or clip (an open_clip name + tag)."""

    kind: str
    model: str
    pretrained: str | None
    directory: str

    @property
    def names(self) -> tuple[str, ...]:
        return BIGGAN_FILES if self.kind == "generator" else CLIP_DIR_FILES

    @property
    def files(self) -> list[str]:
        """The files a finished fetch leaves, its manifest included (the rule's outputs)."""
        return [f"{self.directory}/{name}" for name in (*self.names, MANIFEST)]


def cache_root(config: dict) -> str | None:
    """`weights.cache` with ~ and $VARIABLES expanded (None when not set)."""
    cache = (config.get("weights") or {}).get("cache")
    if not cache:
        return None
    expanded = os.path.expandvars(os.path.expanduser(cache))
    if "$" in expanded:
        raise ValueError(f"config key 'weights.cache': {cache!r} names an environment variable that is not set")
    return os.path.normpath(expanded)


def clip_can_fetch(model: str | None, pretrained: str | None) -> bool:
    """A named open_clip model with a pretrained tag (not a file, not a directory) can be fetched."""
    return bool(model and pretrained and clip_is_named(model) and os.sep not in pretrained
                and not Path(pretrained).is_file())


def weights_plan(config: dict) -> list[Fetch]:
    """The models of `config` to fetch into `weights.cache` (none without it, or when all are paths)."""
    root = cache_root(config)
    if root is None:
        return []
    plan = []
    generator = config["generator"]["model"]
    if generator in BIGGAN_NAMES:
        plan.append(Fetch("generator", generator, None, f"{root}/biggan/{generator}"))
    for section in ("clip", "judge"):
        model, pretrained = (config.get(section) or {}).get("model"), (config.get(section) or {}).get("pretrained")
        if clip_can_fetch(model, pretrained):
            item = Fetch("clip", model, pretrained, f"{root}/open_clip/{model}-{pretrained}")
            if item not in plan:
                plan.append(item)
    return plan


def cached_config(config: dict, plan: list[Fetch]) -> dict:
    """The config sections that change when the models in `plan` are loaded from their cache directories."""
    changed = {}
    for item in plan:
        if item.kind == "generator" and config["generator"]["model"] == item.model:
            changed["generator"] = {**config["generator"], "model": item.directory}
        for section in ("clip", "judge"):
            spec = config.get(section) or {}
            if item.kind == "clip" and (spec.get("model"), spec.get("pretrained")) == (item.model, item.pretrained):
                changed[section] = {**spec, "model": item.directory, "pretrained": None}
    return changed


@dataclass(frozen=True)
class Named:
    """A model its library downloads into its own cache on first use (when weights.cache is not set)."""

    kind: str  # generator (a BigGAN name) or clip (an open_clip name + pretrained tag)
    model: str
    pretrained: str | None = None


def named_models(config: dict) -> list[Named]:
    """The models of a resolved config that download on first use: named BigGANs, and CLIPs named with
    a pretrained tag (none with weights.cache set: the config then names the cache's directories)."""
    named = []
    if config["generator"]["model"] in BIGGAN_NAMES:
        named.append(Named("generator", config["generator"]["model"]))
    for section in ("clip", "judge"):
        model, pretrained = (config.get(section) or {}).get("model"), (config.get(section) or {}).get("pretrained")
        if clip_can_fetch(model, pretrained) and Named("clip", model, pretrained) not in named:
            named.append(Named("clip", model, pretrained))
    return named


def download_named(models: list[Named], record, log=print) -> None:
    """Load each named model once, which downloads it into its library's cache, before any job needs
    it: a machine that cannot reach the weights fails here, once, with one message that says what to do
    (rule download_models). Writes `record` (JSON): what was loaded, and how long it took."""
    import time

    from ..files import write_json
    from .clip import load_clip
    from .generator import load_generator

    loaded = []
    for item in models:
        start = time.perf_counter()
        if item.kind == "generator":
            load_generator(item.model)
        else:
            load_clip(item.model, item.pretrained)
        loaded.append({"kind": item.kind, "model": item.model, "pretrained": item.pretrained,
                       "seconds": round(time.perf_counter() - start, 1)})
        log(f"{item.model}{'/' + item.pretrained if item.pretrained else ''}: in its cache")
    write_json(record, {"loaded": loaded})


# --------------------------------------------------------------------------- where the files come from


@dataclass(frozen=True)
class Remote:
    url: str
    name: str  # the file's name in the model directory


def generator_remotes(name: str) -> list[Remote]:
    """BigGAN's files, where pytorch-pretrained-biggan itself downloads them from."""
    from pytorch_pretrained_biggan.model import PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP

    if name not in BIGGAN_NAMES:
        raise FetchError(f"'{name}' is not a BigGAN name ({', '.join(BIGGAN_NAMES)})")
    return [Remote(PRETRAINED_MODEL_ARCHIVE_MAP[name], "pytorch_model.bin"),
            Remote(PRETRAINED_CONFIG_ARCHIVE_MAP[name], "config.json")]


def clip_remote(model: str, pretrained: str) -> Remote:
    """The open_clip state dict of a pretrained tag, from its Hugging Face hub repository."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        raise FetchError(f"open_clip knows no pretrained tag '{pretrained}' for '{model}' "
                         f"(known: {', '.join(open_clip.list_pretrained_tags_by_model(model)) or 'none'})")
    hub = cfg.get("hf_hub", "")
    if not hub:
        raise FetchError(f"open_clip's '{model}' / '{pretrained}' is not on the Hugging Face hub; download it "
                         f"yourself and set clip.pretrained to the file")
    parts = hub.split("/")  # 'org/repo/' (open_clip's default file) or 'org/repo/file'
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:]) or HF_WEIGHTS
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return Remote(f"{endpoint}/{repo}/resolve/main/{filename}", CLIP_DIR_FILES[1])


def clip_dir_config(model: str, pretrained: str) -> dict:
    """open_clip_config.json for a named model and tag: its architecture, with the activation and the
    image normalisation the tag was trained with (what `models.load_clip` applies to a name + tag)."""
    import copy

    import open_clip

    model_cfg = copy.deepcopy(open_clip.get_model_config(model))
    tag_cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if model_cfg is None or not tag_cfg:
        raise FetchError(f"open_clip knows no model '{model}' with pretrained tag '{pretrained}'")
    if tag_cfg.get("quick_gelu"):
        model_cfg["quick_gelu"] = True
    preprocess = {k: list(v) if isinstance(v, tuple) else v for k, v in tag_cfg.items()
                  if k in ("mean", "std", "interpolation", "resize_mode")}
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess}


# --------------------------------------------------------------------------- downloading and verifying


@dataclass(frozen=True)
class Announced:
    """What the server said about a file: its size and, when it tells, a digest."""

    size: int | None
    sha256: str | None = None
    md5: str | None = None


def announced(headers: list) -> Announced:
    """Size and digests from the headers of every response of a download (redirects first)."""
    size = sha256 = md5 = None
    for h in headers:  # the hub answers with a redirect that carries the size and SHA-256 of the file
        if h.get("X-Linked-Size") and size is None:
            size = int(h["X-Linked-Size"])
        etag = (h.get("X-Linked-Etag") or "").strip('"').removeprefix("W/").strip('"')
        if re.fullmatch(r"[0-9a-f]{64}", etag) and sha256 is None:
            sha256 = etag
    final = headers[-1]
    if size is None and final.get("Content-Length"):
        size = int(final["Content-Length"])
    etag = (final.get("ETag") or "").strip('"')
    if re.fullmatch(r"[0-9a-f]{32}", etag):  # S3: the MD5 of a file uploaded in one part
        md5 = etag
    return Announced(size, sha256, md5)


class _RecordRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self):
        self.headers = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.headers.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url: str, dest: Path) -> Announced:
    """Stream `url` into `dest`; return what the server announced about it (to verify against)."""
    redirects = _RecordRedirects()
    opener = urllib.request.build_opener(redirects)
    request = urllib.request.Request(url, headers={"User-Agent": "machine-imagination weights fetch"})
    with opener.open(request, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, CHUNK)
        return announced([*redirects.headers, response.headers])


def digests(path: Path) -> tuple[int, str, str]:
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            sha256.update(block)
            md5.update(block)
            size += len(block)
    return size, sha256.hexdigest(), md5.hexdigest()


def verify(path: Path, expected: Announced, url: str) -> str:
    """Check a downloaded file against what was announced; return its SHA-256."""
    size, sha256, md5 = digests(path)
    if expected.size is None:
        raise FetchError(f"{url}: the server did not say how large the file is, so it cannot be verified")
    if size != expected.size:
        raise FetchError(f"{url}: got {size} bytes, the server announced {expected.size} (interrupted download?)")
    if expected.sha256 and sha256 != expected.sha256:
        raise FetchError(f"{url}: SHA-256 {sha256} differs from the announced {expected.sha256}")
    if expected.md5 and md5 != expected.md5:
        raise FetchError(f"{url}: MD5 {md5} differs from the announced {expected.md5}")
    return sha256


def read_manifest(directory: Path) -> dict[str, str]:
    lines = (directory / MANIFEST).read_text().splitlines()
    return {name.strip(): digest for digest, name in (line.split(None, 1) for line in lines if line.strip())}


def is_fetched(directory: str | Path, names) -> bool:
    """The directory holds every file, each with the SHA-256 its manifest records."""
    directory = Path(directory)
    try:
        manifest = read_manifest(directory)
    except (OSError, ValueError):
        return False
    return all(manifest.get(n) and (directory / n).is_file() and digests(directory / n)[1] == manifest[n]
               for n in names)


# --------------------------------------------------------------------------- fetching


def _check_loads(item: Fetch, directory: Path) -> None:
    """Load the model once from `directory` with the pipeline's own loader (strict about tensors)."""
    from .clip import load_clip
    from .generator import load_generator

    try:
        if item.kind == "generator":
            load_generator(str(directory))
        else:
            load_clip(str(directory), None)
    except Exception as err:
        message = str(err) if len(str(err)) < 600 else str(err)[:600] + " …"
        raise FetchError(f"the fetched {item.kind} '{item.model}' does not load: {message}") from None


def fetch(item: Fetch, log=print, source=None) -> Path:
    """Fetch one model into `item.directory` (nothing to do if it is there and verifies). `source`:
    what gets each file instead of `download` (same signature), e.g. a copy of local files."""
    final = Path(item.directory)
    if is_fetched(final, item.names):
        log(f"{final}: already fetched and verified")
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        sums = {}
        if item.kind == "generator":
            remotes = generator_remotes(item.model)
        else:
            remotes = [clip_remote(item.model, item.pretrained)]
            config = json.dumps(clip_dir_config(item.model, item.pretrained), indent=2).encode()
            (partial / CLIP_DIR_FILES[0]).write_bytes(config)
            sums[CLIP_DIR_FILES[0]] = hashlib.sha256(config).hexdigest()
        for remote in remotes:
            log(f"downloading {remote.url}")
            try:
                expected = (source or download)(remote.url, partial / remote.name)
            except Exception as err:  # network errors come in many types; all mean the same here
                raise FetchError(f"{remote.url}: download failed ({type(err).__name__}: {err})") from None
            sums[remote.name] = verify(partial / remote.name, expected, remote.url)
            log(f"  {remote.name}: {expected.size} bytes, SHA-256 {sums[remote.name]}, as announced")
        _check_loads(item, partial)
        (partial / MANIFEST).write_text("".join(f"{sums[n]}  {n}\n" for n in item.names))
        # Into place: weights first, then the config the loaders look for, then the manifest.
        final.mkdir(parents=True, exist_ok=True)
        for name in (*reversed(item.names), MANIFEST):
            os.replace(partial / name, final / name)
        log(f"{final}: fetched and verified")
        return final
    finally:
        shutil.rmtree(partial, ignore_errors=True)
