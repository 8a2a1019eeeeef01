"""Benchmark of the payload: the pex end to end over HTTP against the in-process ceiling and the
tutorial-style sequential baseline, the fixed cost of a cold job, and peak memory.

One photo set (generated JPEGs of 1-5 megapixels) is used by every row:
  (1) ceiling: bytes already in memory -> the job's own decode + per-band RMS
      (luminance.metrics.measure), one thread per core;
  (2) the pex, run as HTCondor runs it (env -i, empty sandbox), fetching from a local HTTP server
      with 0 ms and 50 ms added latency per request;
  (3) sequential: one photo at a time with urllib, like the tutorial's luminance2;
  (4) what a user waits for: (a) the fixed cost of a cold job (fresh sandbox, empty PEX_ROOT,
      env -i, no records), wall and CPU, median of ROUNDS paired runs, for this pex and for the
      zip payload it replaced (built from git history, ZIP_PAYLOAD_COMMIT, in the same run);
      (b) the per-photo steady state against the ceiling (row (2) at 50 ms); (c) the whole-job
      ratio for a 200-photo chunk and for the chunk `./submit --test` recommends for
      ~20-minute jobs, computed from (a) and (b), not run;
  (5) the pex reading pelican:// objects of a local federation (photodemo.federation's discovery
      and director over HTTPS, the benchmark's server as its cache) at 50 ms latency per cache
      request: the director is asked once per namespace.
Targets: (2) >= 0.9 x (1) at both latencies; (2) >= 4 x (3) at 50 ms; peak RSS <= 250 MB;
(4b) >= 0.95; (4c) >= 0.95 at the recommended chunk; (5) >= 0.9 x (1); the pex <= 15 MB.
BENCH_ROUNDS rounds (default 7). This machine is shared with other work and its speed drifts
within a minute (docs/payload.md), so each pex run is compared with the ceiling measured just
before and just after it, and the table gives the median of those ratios.

`python -m bench.payload --options` instead measures the cold start of pex builds made with
each of OPTIONS (build.py --pex-option), paired runs, for docs/payload.md's table.
"""

import gzip
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from PIL import Image, ImageStat

from bench.server import Server
from luminance import metrics
from luminance.core import output, results
from luminance.core.cpus import available_cpus
from photodemo import federation as local_federation
from photodemo import images  # the same photo maker the tests use

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PHOTOS = int(os.environ.get("BENCH_PHOTOS", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
# The last commit whose payload was our own zip (a /bin/sh boot, a zip CPython runs, the store):
# (4a) measures it beside the pex.
ZIP_PAYLOAD_COMMIT = "84071be"
TUTORIAL_CHUNK = 200
# pex options measured by --options: each is added to build.py's pex command.
OPTIONS = ((), ("--venv",), ("--compile",), ("--no-compress",), ("--max-install-jobs", "1"))


def photo_set(count=PHOTOS, seed=1):
    """COUNT JPEGs of 1-5 megapixels, 4:3 or 3:4, colour and grayscale."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        megapixels = rng.uniform(1, 5)
        width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
        height = int(width * 3 / 4)
        if rng.random() < 0.3:
            width, height = height, width
        small = images.photo(width // 8, height // 8, mode="L" if rng.random() < 0.3 else "RGB", seed=i)
        big = small.resize((width, height), Image.BICUBIC)
        grain = Image.effect_noise((width, height), 18).convert(big.mode)
        out.append(images.encode(Image.blend(big, grain, 0.08), "JPEG", quality=88))
    return out


def measure_bytes(data):
    with Image.open(io.BytesIO(data)) as image:
        return ImageStat.Stat(image).rms


def ceiling(photos, cpus):
    """Photos/s of the job's own decode + RMS (metrics.measure) on bytes in memory, a thread a core."""
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cpus) as pool:
        list(pool.map(metrics.measure, photos))
    return len(photos) / (time.perf_counter() - began)


def sequential(urls):
    began = time.perf_counter()
    for url in urls:
        with urllib.request.urlopen(url) as response:
            measure_bytes(response.read())
    return len(urls) / (time.perf_counter() - began)


# Runs argv[2:] and writes its peak RSS (KiB) to argv[1]. A child forked from the benchmark would
# report the benchmark's own peak (it holds the whole photo set) as its own: Linux keeps a process's
# high-water mark across exec. A child of this small process starts from this one's.
_PEAK_RSS = ("import resource, subprocess, sys\n"
             "code = subprocess.call(sys.argv[2:])\n"
             "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
             "sys.exit(code)\n")


BENCH_NAMESPACE = "/ospool/bench"


def pelican_objects(server, photos, federation):
    """pelican:// URLs of PHOTOS in FEDERATION (its director redirects BENCH_NAMESPACE to the
    cache, SERVER), the objects on SERVER."""
    urls = []
    for i, data in enumerate(photos):
        path = "{}/p{}.jpg".format(BENCH_NAMESPACE, i)
        server.add(path, data)
        urls.append(federation.url(path))
    return urls


def fresh_sandbox(pex, sandbox):
    """SANDBOX emptied, holding only the pex, as HTCondor gives a job its input."""
    if os.path.exists(sandbox):
        shutil.rmtree(sandbox)
    os.makedirs(sandbox)
    shutil.copy(pex, os.path.join(sandbox, "luminance.pex"))


def run_pex(pex, manifest, sandbox, env=(), cpus=1):
    """Runs the pex on MANIFEST as HTCondor would and times the lines it prints as it goes.

    Returns (steady-state photos/s; the job's own rate, which counts its imports; seconds to the
    first `[YEAR, LUMINANCE],` line; wall seconds; the job's peak RSS in MB). The steady state is
    timed from the CPUS-th photo's line to the last: the job's CPUS decoders start on their first
    photos together and finish them together, and all before that is its fixed cost (the pex's
    start, the imports, the first connections, the first photos)."""
    fresh_sandbox(pex, sandbox)
    peak = sandbox + ".peak-rss"
    stamps = []
    began = time.perf_counter()
    with open(manifest) as stdin, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", _PEAK_RSS, peak, "env", "-i"] + list(env)
                                + ["./luminance.pex", "results.json", "0", "100000"],
                                cwd=sandbox, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                universal_newlines=True)
        for line in proc.stdout:  # the job flushes each photo's line as it is known
            if output.parse_photo_line(line):
                stamps.append(time.perf_counter())
        wall = time.perf_counter() - began
        if proc.wait() != 0:
            stderr.seek(0)
            raise RuntimeError("pex failed ({}): {}".format(proc.returncode, stderr.read()[-500:]))
    if len(stamps) <= cpus:
        raise RuntimeError("pex analyzed {} photos of {}".format(len(stamps), manifest))
    job = results.read(os.path.join(sandbox, "results.json"))["job"]
    steady = (len(stamps) - cpus) / max(1e-9, stamps[-1] - stamps[cpus - 1])
    with open(peak) as stream:
        return steady, job["rate"], stamps[0] - began, wall, int(stream.read()) / 1024


class Cost(NamedTuple):
    """A cold job with no records: wall seconds, and CPU seconds of all its processes."""

    wall: float
    cpu: float


def timed(command, cwd):
    """COMMAND run in CWD, which must succeed: its Cost (wall, and CPU of all its processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    code = subprocess.call(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise RuntimeError("{} failed (exit {}) in {}".format(" ".join(command), code, cwd))
    return Cost(wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def cold_job(payload, sandbox):
    """One cold job with no records, as HTCondor starts it: a fresh sandbox holding only PAYLOAD,
    an empty PEX_ROOT there, env -i; its Cost."""
    fresh_sandbox(payload, sandbox)
    return timed(["env", "-i", "PEX_ROOT=.pex", "./luminance.pex", "start.json", "0", "0",
                  "--manifest", "/dev/null"], sandbox)


def paired_costs(payloads, sandbox, rounds=ROUNDS):
    """{name: [Cost]} of cold jobs, the PAYLOADS ({name: path}) taking turns, ROUNDS each."""
    costs = {name: [] for name in payloads}
    for _ in range(rounds):
        for name, path in payloads.items():
            costs[name].append(cold_job(path, sandbox))
    return costs


def median_cost(costs):
    return Cost(statistics.median(c.wall for c in costs), statistics.median(c.cpu for c in costs))


def zip_payload(tmp):
    """The zip payload of ZIP_PAYLOAD_COMMIT, built by its own build.py from a git worktree (the
    wheels from this checkout's wheelhouse); its path, or None where git cannot make one."""
    tree = os.path.join(tmp, "zip-payload")
    out = os.path.join(tmp, "zip-payload.pex")
    proc = subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, ZIP_PAYLOAD_COMMIT],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        return None
    try:
        proc = subprocess.run([sys.executable, "build.py", "--output", out, "--wheelhouse",
                               os.path.join(ROOT, "build", "wheels")], cwd=tree,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        return out if proc.returncode == 0 else None
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def recommended_chunk(per_photo):
    """The --chunk `./submit --test` suggests for jobs that take PER_PHOTO seconds a photo."""
    from photodemo import watch
    return max(1, int(watch.TARGET_MINUTES * 60 / per_photo))


def job_ratio(photos, fixed, per_photo, ceiling_per_photo):
    """A whole job's time against the ceiling's for PHOTOS photos: its fixed cost paid once, then
    each photo at the steady state. Computed, not run."""
    return photos * ceiling_per_photo / (fixed + photos * per_photo)


def fixed_cost_rows(pex, tmp, sandbox, steady, ceiling_rate, steady_ratio):
    """(4a)-(4c): the fixed cost of a cold job for this pex and the zip payload it replaced; the
    per-photo steady state; the whole job's ratio computed from them."""
    payloads = {"pex": pex}
    older = zip_payload(tmp)
    if older:
        payloads["zip payload ({})".format(ZIP_PAYLOAD_COMMIT)] = older
    costs = paired_costs(payloads, sandbox)
    out = []
    for name, runs in costs.items():
        middle = median_cost(runs)
        out.append(("(4a) fixed cost of a cold job, {}".format(name),
                    "{:.2f} s wall, {:.2f} s CPU (medians of {}; wall: {})".format(
                        middle.wall, middle.cpu, len(runs),
                        ", ".join("{:.2f}".format(c.wall) for c in runs))))
    if not older:
        out.append(("(4a) fixed cost of a cold job, zip payload", "skipped: git could not build {}".format(
            ZIP_PAYLOAD_COMMIT)))
    fixed = median_cost(costs["pex"]).wall
    out.append(("(4b) per-photo steady state, 50 ms latency",
                "{:.2f} x the ceiling (target >= 0.95): {:.2f} ms a photo against {:.2f} ms".format(
                    steady_ratio, 1000 / steady, 1000 / ceiling_rate)))
    from photodemo import watch
    chunk = recommended_chunk(1 / steady)
    for photos, what in ((TUTORIAL_CHUNK, "the tutorial's chunk"),
                         (chunk, "the ~{}-minute chunk ./submit --test recommends".format(
                             watch.TARGET_MINUTES))):
        ratio = job_ratio(photos, fixed, 1 / steady, 1 / ceiling_rate)
        out.append(("(4c) whole job, {} photos (computed)".format(photos),
                    "{:.3f} x the ceiling{} ({}: (4a)'s {:.2f} s once, then (4b))".format(
                        ratio, " (target >= 0.95)" if photos == chunk else "", what, fixed)))
    return out


def size_rows(pex, sandbox):
    """The pex's size and what it serves; what a cold start writes, and its CPU time."""
    from luminance.core import bundle
    import zipfile
    served = bundle.targets(pex)
    with zipfile.ZipFile(pex) as archive:
        index = bundle.StoreIndex.read(archive)
    libraries = index.size(bundle.choose(index.wheels)) if index else 0
    root = os.path.join(sandbox, "size-root")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start_time(pex, sandbox, root)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    written = sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(root)
                  for name in names if not os.path.islink(os.path.join(folder, name)))
    return [("pex size", "{:.1f} MB (CPython {} on {})".format(
                os.path.getsize(pex) / 1e6, ", ".join(served.pythons) or "this Python only",
                ", ".join(served.arches) or "this machine")),
            ("what a cold start writes", "{:.1f} MB of libraries for this Python; {:.1f} MB in "
             "PEX_ROOT in all (with the compiled modules)".format(libraries / 1e6, written / 1e6)),
            ("pex cold start, CPU time", "{:.2f} s (user + system, all its processes)".format(
                after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))]


def start_time(pex, sandbox, pex_root):
    """Seconds for a job with no records: the pex's start, its libraries unpacked and imported."""
    began = time.perf_counter()
    subprocess.run(["env", "-i", "PEX_ROOT=" + pex_root, os.path.abspath(pex), "start.json", "0",
                    "0", "--manifest", "/dev/null"], cwd=sandbox, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


class Round(NamedTuple):
    """One pex run of the paired rounds, against the ceilings measured either side of it."""

    steady: float  # photos/s from the 2nd photo's line to the last
    ratio: float  # steady / the mean of the neighbouring ceilings
    rate: float  # the job's own rate (results file), imports included
    first: float  # seconds to the first photo's line
    wall: float
    peak: float  # MB of peak RSS
    served: float  # ms of the server's CPU per photo


def write_manifests(tmp, servers, cache, federation, photos):
    """One manifest of PHOTOS per server: URLs on a plain server, pelican:// in FEDERATION on
    CACHE, its cache."""
    manifests = []
    for server in servers:
        urls = ([server.add("/p{}.jpg".format(i), data) for i, data in enumerate(photos)]
                if server is not cache else pelican_objects(cache, photos, federation))
        manifests.append(os.path.join(tmp, "manifest-{}.txt".format(server.port)))
        with open(manifests[-1], "w") as stream:
            stream.writelines("{} {}\n".format(url, 1900 + i) for i, url in enumerate(urls))
    return manifests


def paired_rounds(pex, photos, cpus, sandbox, env, cases):
    """Ceiling, a pex run per case, ceiling, ...: each pex run is compared with the mean of the
    ceilings on either side of it. CASES: (name, server, manifest). ([ceilings], {name: [Round]})."""
    ceilings, runs = [ceiling(photos, cpus)], {name: [] for name, _, _ in cases}
    for _ in range(ROUNDS):
        for name, server, manifest in cases:
            served = server.thread_cpu()
            steady, rate, first, wall, peak = run_pex(pex, manifest, sandbox, env, cpus)
            served = (server.thread_cpu() - served) / len(photos) * 1000
            ceilings.append(ceiling(photos, cpus))
            ratio = steady / ((ceilings[-2] + ceilings[-1]) / 2)
            runs[name].append(Round(steady, ratio, rate, first, wall, peak, served))
    return ceilings, runs


def median_round(rounds):
    """The round of the median ratio: (2)'s and (5)'s figures are its, as their ratio is a median."""
    return sorted(rounds, key=lambda run: run.ratio)[len(rounds) // 2]


def _ratios(rounds):
    return "{:.2f} x (1) (median of rounds: {})".format(
        statistics.median(run.ratio for run in rounds),
        ", ".join("{:.2f}".format(run.ratio) for run in rounds))


def rows(pex):
    cpus = available_cpus()
    photos = photo_set()
    megapixels = sum(Image.open(io.BytesIO(p)).size[0] * Image.open(io.BytesIO(p)).size[1]
                     for p in photos) / 1e6
    out = [("photo set", "{} JPEGs, {:.0f} MP, {:.0f} MB, {} CPUs".format(
        len(photos), megapixels, sum(map(len, photos)) / 1e6, cpus))]
    latencies = (0.0, 0.05)
    with tempfile.TemporaryDirectory(prefix="photodemo-bench-") as tmp, \
            Server(latency=latencies[0]) as fast, Server(latency=latencies[1]) as slow, \
            Server(latency=latencies[1]) as cache, \
            local_federation.LocalFederation(local_federation.make_ca(os.path.join(tmp, "tls")),
                                             (BENCH_NAMESPACE,),
                                             caches=["http://127.0.0.1:{}".format(cache.port)]) as federation:
        pex_root = os.path.join(tmp, "pex-root")
        sandbox = os.path.join(tmp, "sandbox")
        os.makedirs(sandbox)
        out += size_rows(pex, sandbox)
        cold = min(start_time(pex, sandbox, "{}-cold-{}".format(pex_root, n)) for n in range(ROUNDS))
        start_time(pex, sandbox, pex_root)
        warm = min(start_time(pex, sandbox, pex_root) for _ in range(3))
        servers = (fast, slow, cache)
        manifests = write_manifests(tmp, servers, cache, federation, photos)
        cases = list(zip(latencies + ("pelican",), servers, manifests))
        # The federation's CA, as a site gives its own to requests; unused by plain HTTP.
        env = ["PEX_ROOT=" + pex_root, "{}={}".format(local_federation.CA_VARIABLE, federation.tls.ca)]
        ceilings, runs = paired_rounds(pex, photos, cpus, sandbox, env, cases)
        # Every row is a median, as the ratio is: one fast round must not make (1) look better
        # than the ceilings the ratios were taken against.
        out.append(("(1) in-process ceiling (decode + RMS)", "{:.1f} photos/s (median of rounds: {})".format(
            statistics.median(ceilings), ", ".join("{:.0f}".format(c) for c in ceilings))))
        for latency in latencies:
            middle = median_round(runs[latency])
            out.append(("(2) pex over HTTP, {:.0f} ms latency".format(latency * 1000),
                        "{}; {:.1f} photos/s steady state, job's own rate {:.1f}/s, first photo's line "
                        "after {:.2f} s, {:.1f} s wall; server {:.2f} ms CPU/photo".format(
                            _ratios(runs[latency]), middle.steady, middle.rate, middle.first, middle.wall,
                            middle.served)))
        slow_round = median_round(runs[latencies[1]])
        out += fixed_cost_rows(pex, tmp, sandbox, slow_round.steady,
                               slow_round.steady / slow_round.ratio,
                               statistics.median(run.ratio for run in runs[latencies[1]]))
        base = sequential(slow.urls()[: max(10, len(photos) // 4)])
        out.append(("(3) sequential urllib, {:.0f} ms latency".format(latencies[1] * 1000),
                    "{:.1f} photos/s; (2) = {:.1f} x (3)".format(
                        base, median_round(runs[latencies[1]]).steady / base)))
        middle = median_round(runs["pelican"])
        out.append(("(5) pex over a Pelican federation, {:.0f} ms latency".format(latencies[1] * 1000),
                    "{}; {:.1f} photos/s steady state, job's own rate {:.1f}/s; director asked {} times "
                    "in {} runs of {} photos".format(_ratios(runs["pelican"]), middle.steady, middle.rate,
                                                     federation.director_requests, ROUNDS, len(photos))))
    peak = max(run.peak for rounds in runs.values() for run in rounds)
    out.append(("pex cold start (empty PEX_ROOT, libraries imported)", "{:.2f} s".format(cold)))
    out.append(("pex warm start", "{:.2f} s".format(warm)))
    out.append(("peak RSS of the pex job (default workers)", "{:.0f} MB".format(peak)))
    return out + memory_rows(pex)


def memory_rows(pex):
    """The job's peak RSS against --memory (docs/memory.md): the hostile cases of issue 19 (scans
    that are large to hold and to decode, gzip bombs, twice the workers), and the base a job of
    small photos holds, which limits.BASE_MB must cover."""
    from luminance.core import limits
    scan = io.BytesIO()
    Image.effect_noise((4700, 4700), 40).convert("RGB").save(scan, "TIFF")  # 66 MB, uncompressed
    bomb = gzip.compress(bytes(limits.DEFAULT_MAX_BYTES), 9)  # 64 kB, 64 MiB of zeros
    small = images.jpeg(64, 48)
    out = []
    with tempfile.TemporaryDirectory(prefix="photodemo-bench-") as tmp, Server() as server:
        def manifest(name, urls):
            path = os.path.join(tmp, name)
            with open(path, "w") as stream:
                stream.writelines("{} 1950\n".format(url) for url in urls)
            return path

        scans = manifest("scans", [server.add("/scan{}.tif".format(n), scan.getvalue(), "image/tiff")
                                   for n in range(32)])
        gzipped = {"Content-Encoding": "gzip"}
        bombs = manifest("bombs", [server.add("/bomb{}.jpg".format(n), bomb, headers=gzipped)
                                   for n in range(64)])
        smalls = manifest("small", [server.add("/small{}.jpg".format(n), small) for n in range(200)])
        root = os.path.join(tmp, "pex-root")
        sandbox = os.path.join(tmp, "sandbox")
        cold = _peak_mb(pex, smalls, sandbox, root)
        warm = max(_peak_mb(pex, smalls, sandbox, root, "--workers", str(workers)) for workers in (16, 512))
        out.append(("memory: base, a job of 200 small photos", "peak RSS {:.0f} MB cold (its libraries "
                    "unpacked), {:.0f} MB warm (16 or 512 workers); limits.BASE_MB = {}".format(
                        cold, warm, limits.BASE_MB)))
        for what, path, options in (
                ("32 uncompressed 66 MB TIFF scans", scans, ["--memory", "1024"]),
                ("32 uncompressed 66 MB TIFF scans", scans, ["--memory", "512"]),
                ("32 uncompressed 66 MB TIFF scans", scans, ["--memory", "1024", "--workers", "32"]),
                ("64 gzip bombs (64 kB -> 64 MiB)", bombs, ["--memory", "1024"])):
            began = time.perf_counter()
            peak = _peak_mb(pex, path, sandbox, root, *options)
            budget = int(options[1])
            out.append(("memory: {}, {}".format(what, " ".join(options)), "peak RSS {:.0f} MB (target "
                        "<= {}: {}); {:.1f} s".format(peak, budget, "met" if peak <= budget else "NOT MET",
                                                       time.perf_counter() - began)))
    return out


def _peak_mb(pex, manifest, sandbox, pex_root, *options):
    """The peak RSS in MB of the pex run on MANIFEST as HTCondor runs it, in a fresh SANDBOX."""
    fresh_sandbox(pex, sandbox)
    peak = sandbox + ".peak-rss"
    with open(manifest) as stdin:
        code = subprocess.call([sys.executable, "-c", _PEAK_RSS, peak, "env", "-i", "PEX_ROOT=" + pex_root,
                                "./luminance.pex", "results.json", "0", "100000", "--retries", "0"]
                               + list(options), cwd=sandbox, stdin=stdin, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    if code != 0:
        raise RuntimeError("pex failed ({}) on {}".format(code, manifest))
    with open(peak) as stream:
        return int(stream.read()) / 1024


def breakdown_rows(pex, sandbox, rounds=ROUNDS):
    """Where a cold start goes, each step the median of ROUNDS: the interpreter alone; pex's start
    with nothing of ours run (--version: pex lays itself out under PEX_ROOT, identifies the
    interpreter, runs its runtime); the same with the interpreter already identified (PEX_ROOT
    holding pex's interpreter cache only); warm (all laid out); a whole job with no records
    (the libraries assembled from the store and imported)."""
    import glob
    python = shutil.which("python3.{}".format(sys.version_info[1]), path="/usr/local/bin:/usr/bin:/bin")
    steps = {"the interpreter alone (python -E -c pass)": [], "pex, cold, --version": [],
             "pex, cold, --version, interpreter already identified": [], "pex, warm, --version": [],
             "a cold job with no records": []}
    names = list(steps)

    version = ["env", "-i", "PEX_ROOT=.pex", "./luminance.pex", "--version"]
    for _ in range(rounds):
        if python:
            steps[names[0]].append(timed(["env", "-i", python, "-E", "-c", "pass"], sandbox))
        fresh_sandbox(pex, sandbox)
        steps[names[1]].append(timed(version, sandbox))
        for folder in glob.glob(os.path.join(sandbox, ".pex", "*")):
            if os.path.basename(folder) != "interpreters":
                shutil.rmtree(folder) if os.path.isdir(folder) else os.remove(folder)
        steps[names[2]].append(timed(version, sandbox))
        steps[names[3]].append(timed(version, sandbox))
        steps[names[4]].append(cold_job(pex, sandbox))
    return [("cold start: " + name, "{:.2f} s wall, {:.2f} s CPU".format(*median_cost(costs)))
            for name, costs in steps.items() if costs]


def option_rows(tmp, options=OPTIONS, rounds=ROUNDS):
    """The fixed cost of a cold job for pex builds with each of OPTIONS, paired runs."""
    payloads = {}
    for extra in options:
        out = os.path.join(tmp, "option-{}.pex".format(len(payloads)))
        command = [sys.executable, os.path.join(ROOT, "build.py"), "--output", out]
        command += ["--pex-option={}".format(word) for word in extra]
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        if proc.returncode != 0:
            print("{}\tbuild failed: {}".format(" ".join(extra), proc.stdout.strip()[-300:]))
            continue
        payloads[" ".join(extra) or "(pex's defaults)"] = out
    sandbox = os.path.join(tmp, "sandbox")
    costs = paired_costs(payloads, sandbox, rounds)
    out = []
    for name, runs in costs.items():
        middle = median_cost(runs)
        out.append((name, "{:.2f} s wall, {:.2f} s CPU (cold job, medians of {}); {:.1f} MB".format(
            middle.wall, middle.cpu, len(runs), os.path.getsize(payloads[name]) / 1e6)))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    options = "--options" in argv
    argv = [arg for arg in argv if arg != "--options"]
    pex = argv[0] if argv else os.path.join(ROOT, "dist", "luminance.pex")
    if options:
        with tempfile.TemporaryDirectory(prefix="photodemo-bench-") as tmp:
            found = option_rows(tmp)
            found += breakdown_rows(pex, os.path.join(tmp, "sandbox"))
    else:
        found = rows(pex)
    for label, value in found:
        print("{}\t{}".format(label, value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
