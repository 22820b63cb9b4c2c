"""`machine-imagination review`: a text's review page (report.review) served on this machine's loopback
interface, to one person. The URL it prints carries a random token, and a request without it is refused
(a cluster's login node is shared by many users); every link of the page is relative, so it works
behind a path-prefix proxy such as Open OnDemand's.

It writes nowhere but the text's overrides table, and Snakemake's own `.snakemake/` when it plans:

- **check** (`api/check`): what the pipeline will read of a pending table, by the pipeline's own parser
  (`text.parse_overrides`) and prompt maker (`project.text_prompts`): the error naming the line, or each
  reworded prompt's parts and weights and what CLIP will see of them;
- **save** (`api/save`): the table written atomically, only to the path the config names for the text
  (or the new file the page offers), only if the file is still what the page read (else 409, with the
  file as it is now), and only if the pipeline can read the new table; saves happen one at a time;
- **plan** (`api/plan`): the job list of `snakemake --dry-run` with the pending table in place of the
  project's (the table and a config overlay naming it in `.snakemake/review/`).
"""
from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import traceback
import urllib.parse
from dataclasses import asdict, dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from .files import AtomicFile
from .project import ConfigError, text_prompts, validate_config
from .report.review import THUMBNAILS, OverridesState, ReviewSettings, overrides_state, read_review, render_page, \
    thumbnail_strip
from .text import TextError, fit_prompt, overrides_rows, parse_overrides

DEFAULT_CONFIG = "config/config.yaml"  # the Snakefile's, when no --configfile is given
PLANS = Path(".snakemake") / "review"  # the pending table and its config overlay, for the dry run
SERVED_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".mp4": "video/mp4"}
MAX_BODY = 4 << 20  # bytes of a request's JSON


class ReviewError(Exception):
    """A request the server refuses: its HTTP status and a message for the page."""

    def __init__(self, status: int, message: str, overrides: OverridesState | None = None):
        super().__init__(message)
        self.status, self.overrides = status, overrides


@dataclass(frozen=True)
class ReviewProject:
    """The project as `snakemake --configfile …` in this directory would see it, and the text reviewed."""

    config: dict  # validated, defaults filled in
    configfiles: tuple  # as given (relative to the working directory)
    text: str
    results: Path  # results/<text>
    snakefile: Path
    settings: ReviewSettings


def _stamps(files) -> tuple:
    return tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None for p in map(Path, files))


def layered_config(configfiles) -> dict:
    """The config files merged in order as Snakemake merges them (later keys win, mappings merge)."""
    from snakemake.utils import update_config

    config: dict = {}
    for path in configfiles:
        try:
            update_config(config, yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read config file '{path}': {err}") from None
    return config


def find_snakefile() -> Path:
    """The project's Snakefile: this directory's, else the one of the package's checkout."""
    for candidate in (Path("Snakefile"), Path("workflow") / "Snakefile"):
        if candidate.is_file():
            return candidate
    return Path(__file__).resolve().parents[2] / "Snakefile"


def open_project(configfiles=(), text: str | None = None, snakefile=None) -> ReviewProject:
    """The project of the config files (default: config/config.yaml) and its text `text` (or its only one)."""
    configfiles = tuple(str(f) for f in configfiles) or (DEFAULT_CONFIG,)
    config = validate_config(layered_config(configfiles))
    texts = list(config["texts"])
    if text is None:
        if len(texts) != 1:
            raise ConfigError(f"the config has {len(texts)} texts: name the one to review ({', '.join(texts)})")
        text = texts[0]
    if text not in config["texts"]:
        raise ConfigError(f"'{text}' is not a text of the config (its texts: {', '.join(texts)})")
    results = Path("results") / text
    if not (results / "prompts.tsv").is_file():
        raise ConfigError(f"'{results}' holds no prompts.tsv: run snakemake first (with the same --configfile)")
    return ReviewProject(config, configfiles, text, results, Path(snakefile) if snakefile else find_snakefile(),
                         ReviewSettings.from_config(config, text))


# ------------------------------------------------------------------------------------------- the work


class Reviewer:
    """What the server does for the page, apart from HTTP."""

    def __init__(self, project: ReviewProject):
        self._project, self._stamps = project, _stamps(project.configfiles)
        self._project_lock = threading.Lock()
        self.save_lock = threading.Lock()
        self.plan_lock = threading.Lock()
        self._tokenizer = None
        self._tokenizer_lock = threading.Lock()
        self._prompts: dict = {}  # (table, the text file's time and size) -> prompts, the last few
        self._prompts_lock = threading.RLock()  # making a table's prompts asks for the plain ones

    @property
    def project(self) -> ReviewProject:
        """The project, read again when a config file has changed (the artist added the line that names the
        table, say); a config that no longer reads leaves the project as it was."""
        with self._project_lock:
            stamps = _stamps(self._project.configfiles)
            if stamps != self._stamps:
                self._stamps = stamps
                old = self._project
                try:
                    self._project = open_project(old.configfiles, old.text, old.snakefile)
                except ConfigError:
                    pass
                with self._prompts_lock:
                    self._prompts.clear()
            return self._project

    def page(self) -> str:
        project = self.project
        return render_page(read_review(project.settings, project.results, served=True))

    def state(self) -> OverridesState:
        return overrides_state(self.project.settings, self.sentence_count())

    def sentence_count(self) -> int:
        return len(self.prompts(""))

    def prompts(self, content: str):
        """The text's prompts with the table `content` (none: "") as the pipeline makes them; TextError:
        what the pipeline says of the table."""
        project = self.project
        stat = Path(project.config["texts"][project.text]).stat()
        key = (content, stat.st_mtime_ns, stat.st_size)
        with self._prompts_lock:
            if key not in self._prompts:
                if len(self._prompts) > 16:
                    self._prompts.clear()
                self._prompts[key] = self.make_prompts(project, content)
            return self._prompts[key]

    def make_prompts(self, project: ReviewProject, content: str):
        settings = project.settings
        if not content:
            return text_prompts(project.config, project.text, overrides={})
        sentences = len(self.prompts(""))
        table = parse_overrides(content, settings.table_path, sentences, settings.classes, settings.candidates)
        return text_prompts(project.config, project.text, overrides=table)

    def tokenizer(self):
        """CLIP's tokenizer (loaded once; None where it cannot be: then no prompt's fit is shown)."""
        with self._tokenizer_lock:
            if self._tokenizer is None:
                from .models.clip import load_tokenizer

                try:
                    self._tokenizer = load_tokenizer(self.project.config["clip"]["model"])
                except Exception:  # noqa: BLE001 - a tokenizer that does not load only hides the fit
                    self._tokenizer = False
            return self._tokenizer or None

    def check(self, content: str) -> dict:
        """What the pipeline will read of the table `content`: {"error": its message or None, "prompts":
        {index: the parts, weights and fit of each sentence the table gives a prompt}}."""
        settings = self.project.settings
        try:
            prompts = self.prompts(content)
            table = parse_overrides(content, settings.table_path, len(prompts), settings.classes, settings.candidates)
        except TextError as err:
            return {"error": str(err), "prompts": {}}
        tokenizer = self.tokenizer()
        readings = {}
        for index, row in table.items():
            if "prompt" not in row:
                continue
            parts = prompts[index].parts
            fit = fit_prompt(tokenizer, parts) if tokenizer else None
            readings[str(index)] = {"parts": [list(part) for part in parts], "prompt": prompts[index].prompt,
                                    "clip_prompt": fit.clip_prompt if fit else None,
                                    "tokens": fit.tokens if fit else None, "truncated": bool(fit and fit.truncated)}
        return {"error": None, "prompts": readings}

    def save(self, path: str, base: str | None, content: str) -> OverridesState:
        """Write the table, atomically, if it is the text's table, still what the page read, and readable."""
        settings = self.project.settings
        if path != settings.table_path:
            raise ReviewError(403, f"refused: this server saves only the overrides table '{settings.table_path}', "
                                   f"not '{path}'")
        with self.save_lock:
            now = self.state()
            if now.error:
                raise ReviewError(409, f"the overrides table on disk cannot be read ({now.error}): fix it by hand; "
                                       "it is not overwritten", now)
            if now.sha256 != base:
                raise ReviewError(409, f"'{path}' changed since the page read it: your changes are now shown "
                                       "against it as it is; look, then Save again", now)
            reading = self.check(content)
            if reading["error"]:
                raise ReviewError(400, f"not saved: {reading['error']}")
            target = Path(path)
            written = AtomicFile(target, tmp_name=f".{target.name}.review-{os.getpid()}-{threading.get_ident()}")
            try:
                written.tmp.write_text(content, encoding="utf-8")
                written.commit()
            finally:
                written.discard()  # what a failed write or rename left (nothing, once committed)
            return self.state()

    def plan(self, content: str) -> list[dict]:
        """The jobs the next snakemake run would run with the table `content` (a dry run)."""
        reading = self.check(content)
        if reading["error"]:
            raise ReviewError(400, reading["error"])
        project, now = self.project, self.state()
        with self.plan_lock:
            PLANS.mkdir(parents=True, exist_ok=True)
            table, overlay = PLANS / f"{project.text}.tsv", PLANS / f"{project.text}.yaml"
            if now.exists and [c for _, c in overrides_rows(now.content)] == [c for _, c in overrides_rows(content)]:
                table = Path(now.path)  # the table as saved: planned under its own name, as the run will read it
            else:  # (the review page names its table: under another name, the plan would also remake the page)
                table.write_text(content, encoding="utf-8")
            overlay.write_text(yaml.safe_dump({"overrides": {project.text: table.as_posix()}}))
            run = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(project.snakefile),
                                  "--configfile", *project.configfiles, str(overlay), "--dry-run", "--nolock"],
                                 capture_output=True, text=True, timeout=900)
        if run.returncode != 0:
            raise ReviewError(500, "snakemake --dry-run failed: " + "\n".join(run.stderr.strip().splitlines()[-8:]))
        return dry_run_jobs(run.stdout + run.stderr, f"{project.results.as_posix()}/")


_JOB = re.compile(r"^\s*(?:local)?rule (\S+):\s*$")
_FIELD = re.compile(r"^\s+(output|reason|wildcards): (.*)$")


def dry_run_jobs(log: str, prefix: str = "") -> list[dict]:
    """The jobs of a `snakemake --dry-run` log: rule, outputs (without `prefix`), and why it runs."""
    jobs, job = [], None
    for line in log.splitlines():
        match = _JOB.match(line)
        if match:
            job = {"rule": match.group(1), "outputs": [], "reason": "", "wildcards": ""}
            if job["rule"] != "all":
                jobs.append(job)
            continue
        field = _FIELD.match(line)
        if job is None or not field:
            continue
        name, value = field.groups()
        if name == "output":
            job["outputs"] = [out.removesuffix(" (update)").removeprefix(prefix) for out in value.split(", ")]
        elif name == "reason":
            reason = value.split(": Union of")[0].replace(prefix, "")
            job["reason"] = reason if len(reason) <= 200 else reason[:197] + "..."
        else:
            job["wildcards"] = value
    return jobs


# --------------------------------------------------------------------------------------------- HTTP


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, review: Reviewer, port: int = 0, token: str | None = None):
        super().__init__(("127.0.0.1", port), ReviewHandler)
        self.review = review
        self.token = token or secrets.token_urlsafe(24)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{self.token}/"


class ReviewHandler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name; requests are not logged
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        self.answer("GET")

    def do_POST(self):  # noqa: N802
        self.answer("POST")

    def answer(self, method: str) -> None:
        try:
            self.route(method, self.within_token())
        except _Redirect as err:
            self.send(301, b"", "text/plain", extra={"Location": str(err)})
        except ReviewError as err:
            body = {"error": str(err)}
            if err.overrides is not None:
                body["overrides"] = asdict(err.overrides)
            self.send(err.status, json.dumps(body).encode(), "application/json")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as err:  # noqa: BLE001 - the page says what went wrong; the terminal has the traceback
            traceback.print_exc()
            self.send(500, json.dumps({"error": f"{type(err).__name__}: {err}"}).encode(), "application/json")

    def within_token(self) -> str:
        """The request's path after the token; refused (403) without the token."""
        segments = urllib.parse.urlsplit(self.path).path.split("/")  # "", token, the rest
        token = segments[1] if len(segments) > 1 else ""
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            raise ReviewError(403, "refused: this address needs the token of the URL machine-imagination review "
                                   "printed")
        if len(segments) == 2:  # /<token> without its slash: the page's relative links need it
            raise _Redirect(f"{token}/")
        return urllib.parse.unquote("/".join(segments[2:]))

    def route(self, method: str, rest: str) -> None:
        review = self.server.review
        if method == "GET" and rest in ("", "review.html"):
            return self.send(200, review.page().encode(), "text/html; charset=utf-8", page=True)
        if method == "GET" and rest == "api/state":
            return self.send_json(asdict(review.state()))
        if method == "GET":
            return self.send_file(rest)
        request = self.read_json()
        if rest == "api/check":
            return self.send_json(review.check(_string(request, "table")))
        if rest == "api/save":
            state = review.save(_string(request, "path"), request.get("base"), _string(request, "table"))
            return self.send_json({"overrides": asdict(state)})
        if rest == "api/plan":
            return self.send_json({"jobs": review.plan(_string(request, "table"))})
        raise ReviewError(404, f"no such action: {rest}")

    def read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ReviewError(413, "request too large")
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            raise ReviewError(415, "requests carry JSON")
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise ReviewError(400, "the request is not JSON") from None
        if not isinstance(request, dict):
            raise ReviewError(400, "the request is not a JSON object")
        return request

    def send_file(self, rest: str) -> None:
        """A file of results/<text> that the page shows: images, thumbnails, the film; nothing else."""
        results = self.server.review.project.results
        parts = Path(rest).parts
        if not parts or any(part in ("..", "") or part.startswith(".") for part in parts) or Path(rest).is_absolute() \
                or "\\" in rest or Path(rest).suffix not in SERVED_SUFFIXES:
            raise ReviewError(403, f"refused: '{rest}' is not a file of the review page")
        if len(parts) == 2 and parts[0] == THUMBNAILS and re.fullmatch(r"\d{4}\.jpg", parts[1]):
            return self.send(200, self.thumbnails(int(parts[1][:4])), "image/jpeg")
        path = results / rest
        if not path.resolve().is_relative_to(results.resolve()):
            raise ReviewError(403, f"refused: '{rest}' is outside {results}")
        if not path.is_file():
            raise ReviewError(404, f"no file '{rest}' in {results}")
        self.send_range(path, SERVED_SUFFIXES[path.suffix])

    def thumbnails(self, index: int) -> bytes:
        """A sentence's strip of thumbnails, made now from its takes as they are (not the workflow's file)."""
        project = self.server.review.project
        images = tuple(project.results / "candidates" / f"{index:04d}" / f"{k}.png"
                       for k in range(project.settings.candidates))
        return _strip(images, tuple(p.stat().st_mtime_ns if p.is_file() else 0 for p in images))

    def send_range(self, path: Path, kind: str) -> None:
        """A file, or the byte range a video element asks for."""
        size = path.stat().st_size
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range") or "")
        start, end = 0, size - 1
        if match and (match.group(1) or match.group(2)):
            if match.group(1):
                start, end = int(match.group(1)), min(int(match.group(2) or size - 1), size - 1)
            else:
                start = max(0, size - int(match.group(2)))
            if start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        with open(path, "rb") as handle:
            handle.seek(start)
            body = handle.read(end - start + 1)
        if match:
            self.send(206, body, kind, extra={"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end}/{size}"})
        else:
            self.send(200, body, kind, extra={"Accept-Ranges": "bytes"})

    def send_json(self, value) -> None:
        self.send(200, json.dumps(value).encode(), "application/json")

    def send(self, status: int, body: bytes, kind: str, page: bool = False, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if page:  # the page's own script, style and data, and files of this server only
            self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; "
                                                        "style-src 'unsafe-inline'; img-src 'self' data:; "
                                                        "frame-ancestors 'self'")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Redirect(ReviewError):
    def __init__(self, location: str):
        super().__init__(301, location)


@lru_cache(maxsize=512)
def _strip(images: tuple, stamps: tuple) -> bytes:
    return thumbnail_strip(list(images))


def _string(request: dict, key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str):
        raise ReviewError(400, f"the request lacks '{key}'")
    return value


def serve(project: ReviewProject, port: int = 0, open_browser: bool | None = None, log=None) -> None:
    """Serve the review page until interrupted (Ctrl+C); print its URL, and open it where there is a screen."""
    log = log or (lambda message: print(message, flush=True))
    server = ReviewServer(Reviewer(project), port)
    threading.Thread(target=server.review.tokenizer, daemon=True).start()  # loads while the page opens
    log(f"Review of {project.text}: {server.url}")
    log(f"Save writes {project.settings.table_path}"
        + ("" if project.settings.table else f" (then add this line to your config: {project.settings.config_line})"))
    log("Only this machine can open it, and only with the token in the address. Ctrl+C stops it.")
    if open_browser is None:
        open_browser = sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY")
                                                                     or os.environ.get("WAYLAND_DISPLAY"))
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
