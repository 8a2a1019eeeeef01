"""The real pex, run the way HTCondor runs a job: executed directly, `env -i` (no PATH, no HOME),
in an empty sandbox, against a real HTTP server on 127.0.0.1 with every fault we handle."""

import io
import json
import os
import shutil
import signal
import subprocess
import time
import zipfile

import pytest
from PIL import Image

import hostile
from luminance.core import bundle, limits, results
from photodemo import images
from pixels import independent, pixels_of

# Manifest line -> what the job must make of it.
GOOD = {  # path on the server -> (year text, image bytes)
    "/a.jpg": ("1880", images.jpeg(64, 48, seed=1)),
    "/b.jpg": ("1919", images.jpeg(48, 64, mode="L", seed=2)),
    "/progressive.jpg": ("?", images.jpeg(50, 40, seed=3, progressive=True)),
    "/flaky.jpg": ("1945", images.jpeg(40, 30, seed=4)),
    "/cmyk.jpg": ("1950", images.jpeg(40, 30, mode="CMYK", seed=5)),
    "/palette.png": ("1960", images.encode(images.photo(40, 30, mode="P", seed=6), "PNG")),
    "/wide.png": ("1970", images.encode(images.photo(40, 30, mode="I;16", seed=7), "PNG")),
}
TRUNCATED = images.jpeg(120, 90, seed=8)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from httpserver import PhotoServer
    with PhotoServer() as server:
        for path, (_, data) in GOOD.items():
            server.add(path, data, fail_first=1 if path == "/flaky.jpg" else 0,
                       content_type="image/png" if path.endswith(".png") else "image/jpeg")
        server.add("/gone.jpg", status=404, content_type="text/plain")
        server.add("/cut.jpg", GOOD["/a.jpg"][1], fault="drop")
        server.add("/slow.jpg", GOOD["/a.jpg"][1], delay=3)
        server.add("/truncated.jpg", TRUNCATED[: len(TRUNCATED) * 2 // 3])
        server.add("/page.html", b"<html><body>Photo not found</body></html>", content_type="text/html")
        server.add("/big.jpg", images.jpeg(200, 150, seed=9))
        local = tmp_path_factory.mktemp("local") / "local photo.jpg"
        local.write_bytes(GOOD["/a.jpg"][1])
        lines = ["# photodemo test manifest", ""]
        lines += ["{} {}".format(server.url(path), year) for path, (year, _) in GOOD.items()]
        lines += [server.url("/gone.jpg") + " 1900", server.url("/cut.jpg") + " 1901",
                  server.url("/slow.jpg") + " 1902", server.url("/truncated.jpg") + " 1903",
                  server.url("/page.html") + " 1904", server.url("/big.jpg") + " 1905",
                  "   # a comment between records", local.as_uri().replace(" ", "%20") + " 1906",
                  str(local.with_name("copy.jpg")) + " n.d.",
                  server.url("/a.jpg") + " 1907 extra", "justonefield", server.url("/a.jpg") + " 19x7",
                  "gopher://old/a.jpg 1908"]
        shutil.copy(local, local.with_name("copy.jpg"))
        manifest = tmp_path_factory.mktemp("manifest") / "manifest.txt"
        manifest.write_text("\n".join(lines) + "\n")
        yield server, str(manifest)


def sandbox_with(pex, tmp_path):
    """An empty job sandbox holding only the pex, as HTCondor transfers it."""
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    shutil.copy(pex, sandbox / "luminance.pex")
    return sandbox


def run_job(sandbox, manifest, *args, env=None, timeout=120):
    command = ["env", "-i"] + ["{}={}".format(k, v) for k, v in (env or {}).items()]
    command += ["./luminance.pex"] + list(args)
    with open(manifest) as stdin:
        return subprocess.run(command, cwd=str(sandbox), stdin=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)


def expected_luminance(data):
    from luminance.metrics import to_rgb_or_l  # the documented conversion; the formula is independent
    return independent(pixels_of(to_rgb_or_l(Image.open(io.BytesIO(data)))), "perceived")


@pytest.mark.slow
def test_job_in_an_htcondor_like_sandbox(pex, site, tmp_path):
    server, manifest = site
    sandbox = sandbox_with(pex, tmp_path)
    proc = run_job(sandbox, manifest, "results.json", "0", "100", "--timeout", "1", "--retries", "1",
                   "--max-pixels", "20000")
    assert proc.returncode == 3, proc.stderr  # transient failures remain (dropped, slow)
    document = results.read(str(sandbox / "results.json"))
    job = document["job"]
    assert (job["start"], job["count"], job["records"], job["complete"]) == (0, 100, 19, True)
    assert job["python"] and job["pillow"] == "11.3.0" and job["metric"] == "perceived"

    photos = {p["url"].rsplit("/", 1)[-1]: p for p in document["photos"]}
    for path, (year, data) in GOOD.items():
        entry = photos[path[1:]]
        assert entry["luminance"] == pytest.approx(expected_luminance(data), abs=1e-6), path
        assert entry["year"] == (None if year == "?" else int(year))
        assert entry["bytes"] == len(data)
    assert photos["wide.png"]["mode"] == "I;16" and photos["cmyk.jpg"]["mode"] == "CMYK"
    assert photos["palette.png"]["mode"] == "P"
    assert photos["local%20photo.jpg"]["year"] == 1906 and photos["copy.jpg"]["year"] is None
    assert server.hits["/flaky.jpg"] == 2  # one 500, retried, then analyzed

    failures = {f["line"]: f for f in document["failures"]}
    def failure(name):
        return next(f for f in document["failures"] if (f["url"] or "").endswith(name))
    assert failure("/gone.jpg")["reason"] == "HTTP 404 Not Found" and not failure("/gone.jpg")["transient"]
    assert "dropped mid-body" in failure("/cut.jpg")["reason"] and failure("/cut.jpg")["transient"]
    assert "timed out" in failure("/slow.jpg")["reason"] and failure("/slow.jpg")["transient"]
    assert "truncated" in failure("/truncated.jpg")["reason"] and not failure("/truncated.jpg")["transient"]
    assert "not an image" in failure("/page.html")["reason"]
    assert "text/html" in failure("/page.html")["reason"]
    assert "pixel limit" in failure("/big.jpg")["reason"]
    assert failures[19]["reason"] == "malformed manifest line: expected 'URL YEAR', got 3 fields"
    assert failures[20]["reason"] == "malformed manifest line: expected 'URL YEAR', got one field"
    assert failures[21]["reason"] == "malformed manifest line: bad year '19x7'"
    assert failures[22]["reason"] == "malformed manifest line: unsupported URL scheme 'gopher'"
    assert len(document["photos"]) + len(document["failures"]) == 19

    # Stdout reads like the tutorial's job output, photos in manifest order.
    out = proc.stdout.splitlines()
    assert out[0].startswith("/* Running on host: ")
    expected_lines = ["[{}, {:.6f}],".format("null" if p["year"] is None else p["year"], p["luminance"])
                      for p in sorted(document["photos"], key=lambda p: p["record"])]
    assert out[1:1 + len(expected_lines)] == expected_lines
    assert out[1 + len(expected_lines)].startswith("/* 9 photos analyzed in ")
    # Failures on stderr: one line each, naming the manifest line, the URL and the reason.
    err = proc.stderr.splitlines()
    assert "stdin:10: {}: HTTP 404 Not Found".format(server.url("/gone.jpg")) in err
    assert len([line for line in err if line.startswith("stdin:")]) == 10


@pytest.mark.slow
def test_start_and_count_select_records_and_manifest_file_option(pex, site, tmp_path):
    server, manifest = site
    sandbox = sandbox_with(pex, tmp_path)
    shutil.copy(manifest, sandbox / "manifest.txt")
    proc = run_job(sandbox, os.devnull, "results-2.json", "2", "3", "--manifest", "manifest.txt",
                   "--metric", "luma", env={"PEX_ROOT": ".pex"})
    assert proc.returncode == 0, proc.stderr
    document = results.read(str(sandbox / "results-2.json"))
    assert [p["record"] for p in document["photos"]] == [2, 3, 4]
    assert [p["line"] for p in document["photos"]] == [5, 6, 7]
    assert document["job"]["metric"] == "luma"
    # PEX_ROOT relative to the sandbox: the libraries were unpacked there, no HOME involved.
    assert [path.name for path in (sandbox / ".pex" / "photodemo").iterdir()] == [
        bundle.StoreIndex.read(zipfile.ZipFile(pex)).sha256[:16]]


@pytest.mark.slow
@pytest.mark.parametrize("variable", ["http_proxy", "FRONTIER_PROXY", "OSG_SQUID_LOCATION"])
def test_photos_come_through_the_sites_proxy(pex, tmp_path, server, variable):
    # An OSG site's squid: the job asks it for the storage server's URLs (which do not resolve
    # here), with the environment HTCondor passes on and nothing else.
    data = GOOD["/a.jpg"][1]
    server.add("/stash/a.jpg", data)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("http://stash.example.invalid/stash/a.jpg 1880\n")
    sandbox = sandbox_with(pex, tmp_path)
    proc = run_job(sandbox, str(manifest), "results.json", "0", "1",
                   env={variable: "127.0.0.1:{}".format(server.port)
                        if variable != "http_proxy" else server.url("")})
    assert proc.returncode == 0, proc.stderr
    (photo,) = results.read(str(sandbox / "results.json"))["photos"]
    assert photo["luminance"] == pytest.approx(expected_luminance(data), abs=1e-6)
    assert server.proxied == ["http://stash.example.invalid/stash/a.jpg"]


@pytest.mark.slow
def test_usage_errors_exit_2_with_one_line(pex, tmp_path):
    sandbox = sandbox_with(pex, tmp_path)
    proc = run_job(sandbox, os.devnull, "results.json", "zero", "10")
    assert proc.returncode == 2 and "START" in proc.stderr and "not a whole number" in proc.stderr
    proc = run_job(sandbox, os.devnull, "results.json", "0", "10", "--manifest", "missing.txt")
    assert proc.returncode == 2
    assert proc.stderr.strip() == \
        "luminance.pex: error: missing.txt: cannot read manifest: No such file or directory"
    # The job still leaves its results file (HTCondor would hold a job without it), saying why.
    document = results.read(str(sandbox / "results.json"))
    assert document["job"]["error"].startswith("missing.txt: cannot read manifest")
    assert document["job"]["complete"] is False


@pytest.mark.slow
def test_eviction_keeps_finished_results(pex, tmp_path, server):
    fast_photo = images.jpeg(32, 24)
    lines = [server.add("/p{}.jpg".format(i), fast_photo) + " 1900" for i in range(3)]
    lines += [server.add("/stuck{}.jpg".format(i), fast_photo, delay=30) + " 1901" for i in range(3)]
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("\n".join(lines) + "\n")
    sandbox = sandbox_with(pex, tmp_path)
    with open(manifest) as stdin:
        proc = subprocess.Popen(["env", "-i", "./luminance.pex", "results.json", "0", "6", "--workers", "6"],
                                cwd=str(sandbox), stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
        deadline = time.time() + 60
        while server.hits.get("/stuck2.jpg", 0) == 0 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.splitlines()[-1] == "luminance.pex: interrupted; finished results are kept"
    document = results.read(str(sandbox / "results.json"))
    assert [p["record"] for p in document["photos"]] == [0, 1, 2]
    assert [(f["record"], f["transient"]) for f in document["failures"]] == [(3, True), (4, True), (5, True)]
    assert document["job"]["complete"] is False
    assert json.loads(out.splitlines()[1].rstrip(","))[0] == 1900


@pytest.mark.slow
def test_hostile_photos_cost_only_themselves(pex, tmp_path, server):
    # Each of these ended the job, ran a program or went past its memory before; now each is
    # one failure, in a fresh pex process (Pillow's plugins not yet loaded), and the good photo
    # beside them is measured. The job ad gives the job 300 MB: 204 MB for the photos.
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text("#!/bin/sh\ntouch '{}'\n".format(tmp_path / "gs-ran"))
    gs.chmod(0o755)
    seeds = hostile.seeds()
    files = {"/bomb.j2k": hostile.j2k(3000, 3000), "/bomb.webp": hostile.webp(9000, 9000),
             "/scans.jpg": hostile.progressive_jpeg(1000),
             "/a.eps": images.encode(images.photo(16, 16), "EPS"),
             "/a.qoi": seeds["qoi"], "/good.jpg": images.jpeg(40, 30, seed=1)}
    for path, data in files.items():
        server.add(path, data)
    manifest = tmp_path / "manifest.txt"
    lines = "".join("{} 1900\n".format(server.url(path)) for path in files)
    manifest.write_bytes(b"\xef\xbb\xbf" + lines.encode()
                         + "file://{}/a%00.jpg 1901\n".format(tmp_path).encode() + b"x.jpg 1500\n")
    ad = tmp_path / ".job.ad"
    ad.write_text("RequestMemory = 300\n")
    sandbox = sandbox_with(pex, tmp_path)
    proc = run_job(sandbox, str(manifest), "results.json", "0", "20", "--retries", "0",
                   env={"PATH": "{}:/usr/bin:/bin".format(gs.parent), "_CONDOR_JOB_AD": str(ad)})
    assert proc.returncode == 0, proc.stderr
    document = results.read(str(sandbox / "results.json"))
    assert [photo["url"].rsplit("/", 1)[-1] for photo in document["photos"]] == ["good.jpg"]
    reasons = [failure["reason"] for failure in document["failures"]]
    assert reasons[0].startswith("too big to decode in the job's memory: 3000x3000 RGB JPEG2000 needs")
    assert reasons[0].endswith("the job has {} MB for photos".format(300 - limits.BASE_MB))
    assert "too big to decode in the job's memory: 9000x9000 RGB WEBP" in reasons[1]
    assert reasons[2] == "JPEG with 1000 scans, the job's limit is 100"
    assert reasons[3].startswith("not an image in a supported photo format") and reasons[4] == reasons[3]
    assert "embedded null byte" in reasons[5]
    assert reasons[6].startswith("malformed manifest line: implausible year 1500")
    assert not (tmp_path / "gs-ran").exists()


@pytest.mark.slow
def test_a_rerun_in_the_sandbox_of_its_results_never_loses_photos(pex, tmp_path, server):
    # HTCondor transfers the chunk's results file into a rerun's sandbox: a rerun during a storage
    # outage keeps the 2 photos + 1 transient failure it finds, never 0 photos + 3 transients.
    for name in "ab":
        server.add("/{}.jpg".format(name), images.jpeg(40, 30, seed=ord(name)))
    server.add("/c.jpg", status=503, content_type="text/plain")
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join("{} 190{}\n".format(server.url("/{}.jpg".format(n)), i)
                                for i, n in enumerate("abc")))
    sandbox = sandbox_with(pex, tmp_path)
    first = run_job(sandbox, str(manifest), "results-0.json", "0", "3", "--retries", "0")
    assert first.returncode == 3, first.stderr
    for name in "abc":
        server.add("/{}.jpg".format(name), status=503, content_type="text/plain")
    again = run_job(sandbox, str(manifest), "results-0.json", "0", "3", "--retries", "0")
    assert again.returncode == 3, again.stderr
    document = results.read(str(sandbox / "results-0.json"))
    assert [photo["record"] for photo in document["photos"]] == [0, 1]
    assert [(f["record"], f["transient"]) for f in document["failures"]] == [(2, True)]
    assert again.stdout.count("],\n") == 2 and "2 results kept" in again.stdout


# -- Placement: whatever python3 a worker has, the job ends with a results file and an exit code
# that says whether to run it elsewhere (5: this worker cannot run the payload).

PYENV = "/root/.pyenv/versions"


def pyenv_python(minor):
    """A pyenv CPython 3.MINOR's python3, or None."""
    import glob
    found = sorted(glob.glob("{}/3.{}.*/bin/python3".format(PYENV, minor)))
    return found[-1] if found else None


def only_python(tmp_path, python):
    """A folder whose only python3 is PYTHON: as PATH, a worker whose only interpreter that is."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python3").symlink_to(python)
    return str(folder)


@pytest.mark.slow
@pytest.mark.parametrize("minor", [6, 7, 8])
def test_a_worker_with_a_python_too_old_writes_results_and_exits_5(pex, site, tmp_path, minor):
    python = pyenv_python(minor)
    if not python:
        pytest.skip("no CPython 3.{} on this machine (pyenv)".format(minor))
    _, manifest = site
    sandbox = sandbox_with(pex, tmp_path)
    proc = run_job(sandbox, manifest, "results.json", "0", "5",
                   env={"PATH": only_python(tmp_path, python), "PEX_ROOT": ".pex"})
    assert proc.returncode == 5, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("luminance.pex: error: this pex has no pillow for CPython 3.{} on ".format(minor))
    assert "it serves CPython 3." in line
    job = results.read(str(sandbox / "results.json"))["job"]
    assert job["python"].startswith("3.{}.".format(minor)) and job["complete"] is False
    assert job["error"] == line[len("luminance.pex: error: "):]


@pytest.mark.slow
@pytest.mark.parametrize("minor", [6, 8])
def test_a_rerun_on_a_worker_with_a_python_too_old_keeps_the_earlier_photos(pex, site, tmp_path, minor):
    # Seen on a pool: results-0.json went from 1 photo to 0 when its rerun landed on an EL8
    # worker. The exit-5 file keeps what the file HTCondor sent into the sandbox held.
    python = pyenv_python(minor)
    if not python:
        pytest.skip("no CPython 3.{} on this machine (pyenv)".format(minor))
    _, manifest = site
    sandbox = sandbox_with(pex, tmp_path)
    first = run_job(sandbox, manifest, "results-0.json", "0", "2")
    assert first.returncode == 0, first.stderr
    earlier = results.read(str(sandbox / "results-0.json"))
    assert len(earlier["photos"]) == 2
    proc = run_job(sandbox, manifest, "results-0.json", "0", "2",
                   env={"PATH": only_python(tmp_path, python), "PEX_ROOT": ".pex"})
    assert proc.returncode == 5, proc.stderr
    again = results.read(str(sandbox / "results-0.json"))
    assert again["photos"] == earlier["photos"] and again["job"]["python"].startswith("3.{}.".format(minor))
    assert again["job"]["error"].startswith("this pex has no pillow for CPython 3.{} ".format(minor))


@pytest.mark.slow
def test_a_rerun_with_a_manifest_error_keeps_the_earlier_photos(pex, site, tmp_path):
    _, manifest = site
    sandbox = sandbox_with(pex, tmp_path)
    assert run_job(sandbox, manifest, "results-0.json", "0", "2").returncode == 0
    earlier = results.read(str(sandbox / "results-0.json"))
    proc = run_job(sandbox, manifest, "results-0.json", "0", "2", "--manifest", "missing.txt")
    assert proc.returncode == 2, proc.stderr
    again = results.read(str(sandbox / "results-0.json"))
    assert again["photos"] == earlier["photos"] and len(again["photos"]) == 2
    assert again["job"]["error"].startswith("missing.txt: cannot read manifest")


@pytest.mark.slow
@pytest.mark.parametrize("start, count, written", [("0", "5", (0, 5)), ("0012", "00", (12, 0)),
                                                   ("123456789", "200", (123456789, 200)),
                                                   ("268435456", "1", (0, 1)),
                                                   ("x", "99999999999999999", (0, 0))])
def test_no_python_at_all_the_boot_writes_results_and_exits_5(pex, tmp_path, start, count, written):
    # Nothing of ours runs: pex's /bin/sh boot finds no interpreter, and ours (payload/boot.sh)
    # writes the results file of luminance.core.results' schema itself, and exits 5 (HTCondor runs
    # the job elsewhere). A START past what a results file may hold is written as 0.
    sandbox = sandbox_with(pex, tmp_path)
    empty = tmp_path / "none"
    empty.mkdir()
    proc = run_job(sandbox, os.devnull, "results.json", start, count, env={"PATH": str(empty)})
    assert proc.returncode == 5, proc.stderr
    (line,) = proc.stderr.splitlines()
    job = results.read(str(sandbox / "results.json"))["job"]
    assert line == "luminance.pex: error: {} (PATH: {})".format(job["error"], empty)
    assert job["error"] == "no python3 (3.6 or newer) on this worker"
    assert (job["start"], job["count"], job["complete"]) == written + (False,)
    assert sorted(os.listdir(str(sandbox))) == ["luminance.pex", "results.json"]
    # Without a results file to name (--version, --help), it says why and exits 5 all the same.
    proc = run_job(sandbox, os.devnull, "--version", env={"PATH": str(empty)})
    assert proc.returncode == 5 and proc.stderr.startswith("luminance.pex: error: no python3 ")


@pytest.mark.slow
def test_no_python_keeps_earlier_results_and_refuses_a_directory(pex, tmp_path):
    sandbox = sandbox_with(pex, tmp_path)
    empty = tmp_path / "none"
    empty.mkdir()
    # A rerun: HTCondor sent the results of an earlier run; the boot leaves them as they are.
    earlier = results.new_document(results.Job(start=0, count=2, complete=True))
    earlier["photos"] = [{"record": 0, "line": 1, "url": "http://h/a.jpg", "year": 1900,
                          "luminance": 0.5}]
    results.write(str(sandbox / "results.json"), earlier)
    before = (sandbox / "results.json").read_bytes()
    proc = run_job(sandbox, os.devnull, "results.json", "0", "2", env={"PATH": str(empty)})
    assert proc.returncode == 5
    assert (sandbox / "results.json").read_bytes() == before
    assert proc.stderr.splitlines()[1] == \
        "luminance.pex: note: results.json: kept as it is (the results of an earlier run)"
    # A directory as RESULTS: one clear line, nothing left inside it or beside it.
    (sandbox / "out").mkdir()
    proc = run_job(sandbox, os.devnull, "out", "0", "2", env={"PATH": str(empty)})
    assert proc.returncode == 5
    assert proc.stderr.splitlines()[1] == "luminance.pex: error: out: is a directory: cannot write results"
    assert os.listdir(str(sandbox / "out")) == []
    assert sorted(os.listdir(str(sandbox))) == ["luminance.pex", "out", "results.json"]
    # The longest name a file may have: written, through a temporary file of a short name.
    name = "r" * 250 + ".json"
    proc = run_job(sandbox, os.devnull, "out/" + name, "0", "2", env={"PATH": str(empty)})
    assert proc.returncode == 5 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert os.listdir(str(sandbox / "out")) == [name]
    assert results.read(str(sandbox / "out" / name))["job"]["count"] == 2


def _small_disk(sandbox, size):
    """Mount a tmpfs of SIZE bytes on SANDBOX (as root), or skip."""
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size={}".format(size), "tmpfs", str(sandbox)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: {}".format(proc.stdout.strip()))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["tmpfs", "fsize"])
def test_no_room_to_unpack_the_libraries_writes_results_and_exits_5(pex, site, tmp_path, how):
    # A sandbox with room for the pex, not for the libraries: a disk that
    # fills up (a small tmpfs: ENOSPC), or files that may not grow past 2 MB (RLIMIT_FSIZE: EFBIG).
    _, manifest = site
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    limit = None
    if how == "tmpfs":
        _small_disk(sandbox, os.path.getsize(pex) + (12 << 20))
    else:
        import resource

        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, resource.RLIM_INFINITY))
    try:
        shutil.copy(pex, str(sandbox / "luminance.pex"))
        with open(manifest) as stdin:
            proc = subprocess.run(["env", "-i", "PEX_ROOT=.pex", "./luminance.pex", "results.json", "0", "5"],
                                  cwd=str(sandbox), stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                                  preexec_fn=limit)
        assert proc.returncode == 5, proc.stderr
        (line,) = proc.stderr.splitlines()
        reason = "No space left on device" if how == "tmpfs" else "File too large"
        assert line.startswith("luminance.pex: error: cannot unpack the libraries for this Python into ")
        assert reason in line
        job = results.read(str(sandbox / "results.json"))["job"]
        assert job["error"] == line[len("luminance.pex: error: "):] and job["complete"] is False
    finally:
        if how == "tmpfs":
            subprocess.run(["umount", str(sandbox)])


def machine_pythons():
    """This machine's CPythons the payload serves: {"3.9": path, ...} (pyenv's, and python3)."""
    found = {}
    for minor in range(9, 15):
        python = pyenv_python(minor)
        if python:
            found["3.{}".format(minor)] = python
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system:
        version = subprocess.run([system, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
        found["system " + version] = system
    return found


@pytest.fixture(scope="module")
def machine_pex(tmp_path_factory):
    """A pex carrying wheels for every CPython on this machine (build.py --python ...)."""
    import platform
    import sys
    versions = sorted({name.split()[-1] for name in machine_pythons()} & {"3.9", "3.10", "3.11",
                                                                         "3.12", "3.13", "3.14"})
    out = tmp_path_factory.mktemp("machine-pex") / "luminance.pex"
    build = os.path.join(os.path.dirname(os.path.dirname(__file__)), "build.py")
    proc = subprocess.run([sys.executable, build, "--python", ",".join(versions),
                           "--arch", platform.machine(), "--output", str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
    return str(out)


@pytest.mark.slow
def test_the_same_values_under_every_python_on_this_machine(machine_pex, tmp_path):
    photos = {"a.jpg": images.jpeg(90, 60, seed=11), "b.jpg": images.jpeg(60, 90, mode="L", seed=12),
              "c.png": images.encode(images.photo(50, 40, mode="P", seed=13), "PNG"),
              "d.webp": images.encode(images.photo(50, 40, seed=14), "WEBP"),
              "e.tif": images.encode(images.photo(50, 40, mode="CMYK", seed=15), "TIFF"),
              "f.jp2": images.encode(images.photo(50, 40, seed=16), "JPEG2000"),
              "g.avif": images.encode(images.photo(50, 40, seed=17), "AVIF")}
    lines = []
    for name, data in photos.items():
        (tmp_path / name).write_bytes(data)
        lines.append("{} 1900".format(tmp_path / name))
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("\n".join(lines) + "\n")
    expected = ["[1900, {:.6f}],".format(expected_luminance(data)) for data in photos.values()]
    pythons = machine_pythons()
    assert pythons, "no CPython 3.9+ found"
    for name, python in sorted(pythons.items()):
        run = tmp_path / name.replace(" ", "-")
        run.mkdir()
        sandbox = sandbox_with(machine_pex, run)
        proc = run_job(sandbox, str(manifest), "results.json", "0", str(len(photos)),
                       env={"PATH": only_python(run, python), "PEX_ROOT": ".pex"})
        assert (proc.returncode, proc.stderr) == (0, ""), name  # no warning on stderr either
        assert proc.stdout.splitlines()[1:1 + len(photos)] == expected, name
        assert results.read(str(sandbox / "results.json"))["job"]["python"].startswith(
            name.split()[-1] + "."), name
        # Run by that Python directly, past the boot: the same values, and it names that Python.
        with open(str(manifest)) as stdin:
            proc = subprocess.run(["env", "-i", "PEX_ROOT=.pex", python, "luminance.pex", "direct.json",
                                   "0", str(len(photos))], cwd=str(sandbox), stdin=stdin,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        assert (proc.returncode, proc.stderr) == (0, ""), name
        assert proc.stdout.splitlines()[1:1 + len(photos)] == expected, name
        assert results.read(str(sandbox / "direct.json"))["job"]["python"].startswith(
            name.split()[-1] + "."), name


# -- pex's own variables and tools, and what the worker's environment may hold


@pytest.mark.slow
def test_pex_python_and_pex_python_path_choose_the_interpreter(pex, tmp_path):
    # The results file names the Python that ran: the one PEX_PYTHON or PEX_PYTHON_PATH chose
    # (this pex carries wheels for this machine's Python only, so those end in exit 5).
    chosen = [(minor, pyenv_python(minor)) for minor in (7, 8)]
    chosen = [(minor, python) for minor, python in chosen if python]
    if not chosen:
        pytest.skip("no CPython 3.7 or 3.8 on this machine (pyenv)")
    for minor, python in chosen:
        for variable, value in (("PEX_PYTHON", python), ("PEX_PYTHON_PATH", os.path.dirname(python))):
            run = tmp_path / "{}-{}".format(variable, minor)
            run.mkdir()
            sandbox = sandbox_with(pex, run)
            proc = run_job(sandbox, os.devnull, "results.json", "0", "1",
                           env={variable: value, "PEX_ROOT": ".pex"})
            assert proc.returncode == 5, (variable, proc.stderr)
            job = results.read(str(sandbox / "results.json"))["job"]
            assert job["python"].startswith("3.{}.".format(minor)), variable


@pytest.mark.slow
def test_pex_verbose_and_pex_tools_work_on_it(pex, tmp_path):
    sandbox = sandbox_with(pex, tmp_path)
    proc = run_job(sandbox, os.devnull, "--version", env={"PEX_VERBOSE": "1", "PEX_ROOT": ".pex"})
    assert proc.returncode == 0 and proc.stdout.startswith("luminance.pex ")
    assert "used /bin/sh boot to select python" in proc.stderr
    import sys
    tools = os.path.join(os.path.dirname(sys.executable), "pex-tools")
    proc = subprocess.run([tools, pex, "info"], stdout=subprocess.PIPE, universal_newlines=True)
    info = json.loads(proc.stdout)
    assert info["entry_point"] == "luminance" and info["inject_python_args"][0] == "-E"


@pytest.mark.slow
def test_pythonpath_and_pythonhome_of_the_worker_do_not_reach_the_job(pex, site, tmp_path):
    _, manifest = site
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "enum.py").write_text("raise ImportError('a stale enum.py')\n")
    sandbox = sandbox_with(pex, tmp_path)
    proc = run_job(sandbox, manifest, "results.json", "0", "2", "--retries", "0",
                   env={"PYTHONPATH": str(stale), "PYTHONHOME": "/nonexistent", "PEX_ROOT": ".pex"})
    assert proc.returncode == 0, proc.stderr
    assert len(results.read(str(sandbox / "results.json"))["photos"]) == 2


@pytest.mark.slow
def test_no_home_and_no_passwd_entry_leave_no_folder_named_tilde(pex, tmp_path):
    import shutil as sh
    if not sh.which("setpriv"):
        pytest.skip("no setpriv here")
    import tempfile
    uid = 54321  # a uid with no passwd entry
    top = tempfile.mkdtemp()  # pytest's own folders are root's alone
    os.chmod(top, 0o755)
    sandbox = sandbox_with(pex, __import__("pathlib").Path(top))
    for path in (sandbox, sandbox / "luminance.pex"):
        os.chown(str(path), uid, uid)
    scratch = os.path.join(top, "tmp")  # the job's TMPDIR: its own, so that nothing else writes there
    os.mkdir(scratch)
    os.chown(scratch, uid, uid)
    proc = subprocess.run(["env", "-i", "TMPDIR=" + scratch, sh.which("setpriv"), "--reuid", str(uid),
                           "--regid", str(uid),
                           "--clear-groups", "./luminance.pex", "results.json", "0", "1",
                           "--manifest", os.devnull], cwd=str(sandbox), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    listed, left = sorted(os.listdir(str(sandbox))), os.listdir(scratch)
    sh.rmtree(top)
    assert proc.returncode == 0, proc.stderr
    assert listed == ["luminance.pex", "results.json"]
    assert left == []  # its temporary PEX_ROOT is gone with it


def _flip(path, member, where):
    """Flip one byte of MEMBER's stored bytes in the zip at PATH, WHERE (0..1) through them."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    with open(path, "r+b") as stream:
        stream.seek(info.header_offset + 26)
        name_length, extra_length = (int.from_bytes(stream.read(2), "little") for _ in range(2))
        at = info.header_offset + 30 + name_length + extra_length + int(info.compress_size * where)
        stream.seek(at)
        byte = stream.read(1)
        stream.seek(at)
        stream.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.slow
@pytest.mark.parametrize("member, where", [("index.json", 0.5), ("pack", 0.98), ("pack", 0.1)])
def test_a_damaged_store_ends_in_exit_5_with_a_results_file(pex, tmp_path, member, where):
    sandbox = sandbox_with(pex, tmp_path)
    with zipfile.ZipFile(pex) as archive:
        packs = [name for name in archive.namelist()
                 if name.startswith(bundle.ZIP_PREFIX) and name.endswith(".xz")]
    name = bundle.INDEX if member == "index.json" else max(
        packs, key=lambda pack: zipfile.ZipFile(pex).getinfo(pack).compress_size)
    _flip(str(sandbox / "luminance.pex"), name, where)
    proc = run_job(sandbox, os.devnull, "results.json", "0", "1", env={"PEX_ROOT": ".pex"})
    assert proc.returncode == 5, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "damaged" in line and "transfer it again" in line
    assert results.read(str(sandbox / "results.json"))["job"]["error"] == line[len("luminance.pex: error: "):]


@pytest.mark.slow
def test_a_results_name_as_long_as_a_name_can_be_is_written(pex, tmp_path):
    sandbox = sandbox_with(pex, tmp_path)
    name = "r" * 250 + ".json"
    proc = run_job(sandbox, os.devnull, name, "0", "1", env={"PEX_ROOT": ".pex"})
    assert proc.returncode == 0, proc.stderr
    assert results.read(str(sandbox / name))["job"]["count"] == 1
