"""`make demo`: the whole pipeline on this machine, with a sample archive served over HTTP.

    .venv/bin/python -m photodemo.demo [--count 300] [--seed 1] [--chunk 50]

1. the sample archive in demo/archive (photodemo.archive), reused while count and seed match;
2. an HTTP server process on 127.0.0.1 serving it (the stand-in for the storage service);
3. demo/manifest.txt from the archive's XML sidecars (make-manifest's code, photodemo.mkmanifest);
4. `./submit --local` runs the jobs with dist/luminance.pex, results into demo/results;
5. `./aggregate demo/results` makes demo/scatter.html;
6. the server is stopped, whatever happened (failure, Ctrl-C, SIGTERM), and a summary printed.
"""

import argparse
import contextlib
import glob
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from typing import Dict, Iterator, List, Optional, Sequence

from luminance.core import command
from luminance.core.arguments import whole_number
from luminance.core.command import Terminated
from luminance.core.errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TRANSIENT, EXIT_USAGE,
                                   PhotodemoError, UsageError)
from photodemo import aggregate, archive, jobs, mkmanifest
from photodemo import federation as federation_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["ensure_archive", "serve", "build_manifest", "run_submit", "run_aggregate", "summarize",
           "main"]

PROG = "demo"  # error lines: `demo: error: ...`, like its progress lines
DEFAULT_WORKDIR = os.path.join(ROOT, "demo")
DEFAULT_CHUNK = 50
SERVER_START_S = 15.0

EXIT_CODES = {
    EXIT_OK: "the page is written; every job succeeded",
    EXIT_USAGE: "bad option, no payload (run make payload), ./submit or ./aggregate missing; or "
                "./aggregate's exit code",
    EXIT_TRANSIENT: "./submit's exit code (the page shows what finished)",
    EXIT_FAILED: "./submit's exit code: a job (the page shows what finished)",
    EXIT_INTERRUPTED: "the server is stopped",
}
INTERRUPTED = "interrupted; the server is stopped, finished results are kept"


def say(message: str) -> None:
    print("demo: " + message, flush=True)


def ensure_archive(directory: str, count: int, seed: int) -> bool:
    """The sample archive of COUNT photos for SEED in DIRECTORY: reused if it is that one, else
    (re)generated. True when it was generated."""
    stamp = archive.read_stamp(directory)
    wanted = {"generator": archive.GENERATOR_VERSION, "count": count, "seed": seed}
    if stamp == wanted:
        return False
    try:
        if os.path.lexists(directory):
            shutil.rmtree(directory)
        archive.generate(directory, count, seed, progress=_archive_progress())
    except OSError as exc:
        raise UsageError("{}: cannot write the sample archive: {}".format(
            directory, exc.strerror or exc)) from None
    return True


def _archive_progress():
    last = [time.monotonic()]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > 5:
            last[0] = now
            say("drawing photos: {}/{}".format(done, total))
    return show


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def serve(directory: str, log_path: str, attempts: int = 3,
          federation: Optional[federation_server.TLS] = None) -> Iterator[str]:
    """A `python -m http.server` process serving DIRECTORY on 127.0.0.1; yields its base URL.
    FEDERATION (its CA and certificate): a local Pelican federation over HTTPS instead
    (photodemo/federation.py), a pelican:// base.

    The port is picked free, then handed to the server: another program may take it in between,
    so the server counts as up only once it serves the archive's own stamp file, and a server
    that died (address in use) is retried on a new port. It is stopped on leaving, however left.
    """
    stamp = os.path.join(directory, archive.STAMP_NAME)
    with open(stamp, "rb") as stream:
        expected = stream.read()
    with open(log_path, "ab") as log:
        for _ in range(attempts):
            port = _free_port()
            server = (["-m", "photodemo.federation", "--port", str(port), "--tls",
                       os.path.dirname(federation.ca)] if federation
                      else ["-m", "http.server", "--bind", "127.0.0.1", str(port)])
            process = subprocess.Popen([sys.executable] + server + ["--directory", directory], cwd=ROOT,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            try:
                url = "{}://127.0.0.1:{}".format("https" if federation else "http", port)
                context = ssl.create_default_context(cafile=federation.ca) if federation else None
                if _wait_until_serving(process, url + "/" + archive.STAMP_NAME, expected, context):
                    yield federation_server.base_url(port) if federation else url
                    return
            finally:
                _stop(process)
    raise PhotodemoError("could not start an HTTP server on 127.0.0.1 ({} tries; see {})".format(
        attempts, log_path))


def _wait_until_serving(process: subprocess.Popen, url: str, expected: bytes,
                        context: Optional[ssl.SSLContext] = None) -> bool:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as response:
                if response.read() == expected:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def build_manifest(archive_dir: str, base_url: str, path: str) -> List[mkmanifest.Photo]:
    """Write the manifest of ARCHIVE_DIR served at BASE_URL to PATH, as make-manifest does."""
    photos = mkmanifest.scan(archive_dir, base_url)
    mkmanifest.write_atomically(path, mkmanifest.manifest_text(photos))
    mkmanifest.report(photos, False, lambda message: say("make-manifest: " + message))
    return photos


def _run_child(command: Sequence[str], cwd: str, stdout=None,
               env: Optional[Dict[str, str]] = None) -> int:
    """Run COMMAND; when interrupted, let it stop its own jobs and save its work first.

    Ctrl-C reaches the child too (same process group); SIGTERM reached only us, so it is passed
    on as SIGINT, which ./submit handles by stopping its jobs and keeping finished results.
    """
    process = subprocess.Popen(command, cwd=cwd, stdout=stdout, env=env)
    try:
        return process.wait()
    except BaseException as exc:
        if isinstance(exc, Terminated) and process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        _stop(process)
        raise


def _tool(name: str) -> str:
    path = os.path.join(ROOT, name)
    if not os.access(path, os.X_OK):
        raise UsageError("{}: missing or not executable (photodemo checkout incomplete?)".format(path))
    return path


def run_submit(manifest: str, results_dir: str, payload: str, chunk: int, workdir: str,
               ca: Optional[str] = None) -> int:
    """`./submit --local` over MANIFEST, results into RESULTS_DIR; its exit code. CA: the CA
    bundle the jobs verify HTTPS with (REQUESTS_CA_BUNDLE), for the local federation's.

    It runs in WORKDIR, so its submit.sub, job.log and log/ stay in demo/ and out of the checkout.
    """
    env = dict(os.environ, **{federation_server.CA_VARIABLE: ca}) if ca else None
    return _run_child([_tool("submit"), "--local", "--manifest", manifest, "--results", results_dir,
                       "--payload", payload, "--chunk", str(chunk)], cwd=workdir, env=env)


def run_aggregate(results_dir: str, page: str, workdir: str) -> int:
    """`./aggregate RESULTS_DIR > PAGE`, PAGE replaced only when aggregate succeeds; its exit code."""
    tmp = page + ".tmp"
    try:
        with open(tmp, "wb") as stream:
            code = _run_child([_tool("aggregate"), results_dir], cwd=workdir, stdout=stream)
        if code == 0:
            os.replace(tmp, page)
        return code
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


ERAS = (("before 1920", None, 1920), ("1920-1979", 1920, 1980), ("from 1980", 1980, None))


def summarize(results_dir: str) -> List[str]:
    """A few lines about the results in RESULTS_DIR, as ./aggregate merged them (each record
    once): photos, failures, and the mean luminance by era."""
    try:
        merge = aggregate.collect([results_dir])  # aggregate has already named the unusable files
    except PhotodemoError as exc:
        return ["no results to summarize: {}".format(exc)]
    unknown = merge.years[None].n if None in merge.years else 0
    lines = ["{} photos analyzed from {} results files; {} failed; {} of unknown year".format(
        merge.photos, len(merge.files), len(merge.failures.entries), unknown)]
    means = []
    for label, first, stop in ERAS:
        within = [stats for year, stats in merge.years.items() if year is not None and
                  (first is None or year >= first) and (stop is None or year < stop)]
        count = sum(stats.n for stats in within)
        if count:
            mean = sum(stats.total for stats in within) / count
            means.append("{} {:.3f} ({} photos)".format(label, mean, count))
    if means:
        lines.append("mean luminance " + ", ".join(means))
    return lines


def _shown(path: str) -> str:
    """PATH relative to the current directory when below it (demo/scatter.html), else absolute."""
    return os.path.relpath(path) if path.startswith(os.getcwd() + os.sep) else path


def run(args: argparse.Namespace) -> int:
    workdir = os.path.abspath(args.workdir)
    archive_dir = os.path.join(workdir, "archive")
    manifest = os.path.join(workdir, "manifest.txt")
    results_dir = os.path.join(workdir, "results")
    page = os.path.join(workdir, "scatter.html")
    payload = os.path.abspath(args.payload)
    if not os.path.isfile(payload):
        raise UsageError("{}: no payload; run `make payload` first".format(payload))
    _tool("submit")
    _tool("aggregate")
    os.makedirs(workdir, exist_ok=True)

    started = time.monotonic()
    if ensure_archive(archive_dir, args.count, args.seed):
        say("sample archive: {} photos drawn into {} ({:.0f} s)".format(
            args.count, archive_dir, time.monotonic() - started))
    else:
        say("sample archive: {} photos in {} (cached; seed {})".format(args.count, archive_dir, args.seed))

    tls = federation_server.make_ca(os.path.join(workdir, "tls")) if args.federation else None
    with serve(archive_dir, os.path.join(workdir, "server.log"), federation=tls) as base_url:
        say("serving {} at {}/ ({}, log in {})".format(
            archive_dir, base_url,
            "a local Pelican federation" if args.federation else "python -m http.server",
            os.path.join(workdir, "server.log")))
        build_manifest(archive_dir, base_url, manifest)
        say("manifest: {}".format(manifest))
        # Results from an earlier run name another port's URLs: start from an empty directory.
        shutil.rmtree(results_dir, ignore_errors=True)
        os.makedirs(results_dir)
        analysis = time.monotonic()
        say("running ./submit --local --chunk {} ...".format(args.chunk))
        submit_code = run_submit(manifest, results_dir, payload, args.chunk, workdir,
                                 tls.ca if tls else None)
        analysis = time.monotonic() - analysis
    say("server stopped")

    if not glob.glob(os.path.join(results_dir, jobs.RESULTS_GLOB)):
        say("error: ./submit wrote no results (exit code {})".format(submit_code))
        return submit_code or 1
    say("running ./aggregate {} > {} ...".format(_shown(results_dir), _shown(page)))
    aggregate_code = run_aggregate(results_dir, page, workdir)
    for line in summarize(results_dir):
        say(line)
    say("analysis {:.0f} s, whole demo {:.0f} s".format(analysis, time.monotonic() - started))
    if aggregate_code != 0:
        say("error: ./aggregate failed (exit code {}); no page written".format(aggregate_code))
        return aggregate_code
    say("the page: {}".format(_shown(page)))
    say("open it: file://{}".format(page))
    if submit_code != 0:
        say("error: ./submit reported failed jobs (exit code {}); the page shows what finished"
            .format(submit_code))
    return submit_code


def parser() -> argparse.ArgumentParser:
    parser = command.Parser(
        PROG, "python -m photodemo.demo",
        description="Run photodemo end to end on this machine (what `make demo` does): a sample\n"
                    "archive served over HTTP, ./submit --local, ./aggregate > demo/scatter.html.",
        exit_codes=EXIT_CODES)
    parser.add_argument("--count", type=whole_number(1, archive.MAX_COUNT), default=archive.DEFAULT_COUNT,
                        metavar="N", help="photos in the sample archive, 1..{} (default: %(default)s)".format(
                            archive.MAX_COUNT))
    parser.add_argument("--seed", type=int, default=archive.DEFAULT_SEED, metavar="S",
                        help="the sample archive's random seed (default: %(default)s)")
    parser.add_argument("--chunk", type=whole_number(1), default=DEFAULT_CHUNK, metavar="N",
                        help="photos per job (default: %(default)s)")
    parser.add_argument("--payload", default=os.path.join(ROOT, jobs.DEFAULT_PAYLOAD), metavar="PEX",
                        help="the payload built by make payload (default: {})".format(
                            jobs.DEFAULT_PAYLOAD))
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR, metavar="DIR",
                        help="where the archive, manifest, results and page go (default: demo/)")
    parser.add_argument("--federation", action="store_true",
                        help="serve the archive as a local Pelican federation (pelican:// URLs: "
                             "discovery, director, cache, as the OSDF) instead of plain HTTP")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    # Ctrl-C and SIGTERM stop ./submit's jobs and the server (_run_child, serve) before it ends.
    return command.run(parser(), run, argv, interrupted=INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
