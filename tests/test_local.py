"""./submit --local: the same jobs as submit.sub, run here in worker-like sandboxes.

Most tests run a stand-in payload (a small Python program, executed like the pex) that records
what it was given and exits as told, so sandbox, environment, retries, failures and Ctrl-C are
checked exactly and fast; the last tests run the real pex against a real HTTP server.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from luminance.core import results

from photodemo import local, submit
from photodemo.jobs import plan
from photodemo.batch import Batch
from photodemo.images import jpeg

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FAKE = '''#!{python}
"""A stand-in for luminance.pex: records what it was given, behaves as control.json says."""
import json, os, sys, time
sys.path.insert(0, {payload!r})
from luminance.core import results
state = {state!r}
name, start, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
counter = os.path.join(state, "attempts.%d" % start)
attempt = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
open(counter, "w").write(str(attempt))
# The environment as executed (os.environ also holds Python's own LC_CTYPE locale coercion).
with open("/proc/self/environ", "rb") as stream:
    env = dict(item.decode().split("=", 1) for item in stream.read().split(b"\\0") if item)
probe = {{"argv": sys.argv, "env": env, "cwd": os.getcwd(),
          "listing": sorted(os.listdir(".")), "stdin": sys.stdin.read(), "pid": os.getpid()}}
with open(os.path.join(state, "probe.%d.%d" % (start, attempt)), "w") as stream:
    json.dump(probe, stream)
with open(os.path.join(state, "control.json")) as stream:
    behaviour = json.load(stream).get(str(start), {{}})
codes = behaviour.get("codes", [0])
code = codes[min(attempt, len(codes)) - 1]
print("/* Running on host: fake */", flush=True)
time.sleep(behaviour.get("sleep", 0))
document = results.new_document({{"host": "fake", "start": start, "count": count,
                                  "records": count, "complete": True}})
for record in range(start, start + count - behaviour.get("short", 0)):
    if code == 3 and record == start:
        document["failures"].append(results.failure(record, record + 1, "u", "HTTP 503", True))
        print("stdin:%d: u: HTTP 503 (transient)" % (record + 1), file=sys.stderr)
    else:
        document["photos"].append(results.photo(record, record + 1, "u", 1900, 0.5, 1, 1, "L", 1))
        print("[1900, 0.500000],")
if behaviour.get("empty"):  # as the boot writes it on a worker with no Python: no entries
    document["photos"], document["failures"] = [], []
if not behaviour.get("no_results"):
    results.write(name, document)
if code == 1:
    print("Traceback (most recent call last): boom", file=sys.stderr)
sys.exit(code)
'''


class Fake:
    """A stand-in payload in DIRECTORY/dist/luminance.pex, and what its runs recorded."""

    def __init__(self, directory):
        self.state = directory / "state"
        self.state.mkdir()
        (directory / "dist").mkdir()
        self.path = directory / "dist" / "luminance.pex"
        self.path.write_text(FAKE.format(python=sys.executable, payload=os.path.join(ROOT, "payload"),
                                         state=str(self.state)))
        self.path.chmod(0o755)
        self.control({})

    def control(self, behaviour):
        (self.state / "control.json").write_text(json.dumps({str(k): v for k, v in behaviour.items()}))

    def probe(self, start, attempt=1):
        return json.loads((self.state / "probe.{}.{}".format(start, attempt)).read_text())

    def attempts(self, start):
        path = self.state / "attempts.{}".format(start)
        return int(path.read_text()) if path.exists() else 0


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = "".join("http://127.0.0.1:9/p{}.jpg {}\n".format(n, 1900 + n) for n in range(25))
    (tmp_path / "manifest.txt").write_text("# photos\n" + manifest)
    return Fake(tmp_path)


def test_each_job_runs_in_a_fresh_worker_like_sandbox(fake, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/site/ca.pem")  # a local server's CA: passed on
    code = submit.main(["--local", "--chunk", "10", "--results", "out", "--metric", "luma",
                        "--request-cpus", "2", "--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    for chunk in plan(25, 10):
        document = results.read(str(tmp_path / "out" / chunk.results_name))
        assert (document["job"]["start"], document["job"]["count"]) == (chunk.start, chunk.count)
        probe = fake.probe(chunk.start)
        assert probe["argv"][1:] == chunk.arguments + ["--metric", "luma"]
        assert probe["env"] == {"PEX_ROOT": probe["env"]["PEX_ROOT"], "TMPDIR": probe["cwd"],
                                "_CONDOR_SCRATCH_DIR": probe["cwd"], "OMP_NUM_THREADS": "2",
                                "PYTHON_CPU_COUNT": "2",
                                "REQUESTS_CA_BUNDLE": "/site/ca.pem"}  # no PATH, no HOME
        assert probe["listing"] == ["luminance.pex", "manifest.txt"]  # only what is transferred
        assert probe["stdin"] == (tmp_path / "manifest.txt").read_text()
        assert not os.path.exists(probe["cwd"])  # sandboxes are removed
        log = (tmp_path / chunk.output_name).read_text()
        assert log.startswith("/* Running on host: fake */") and log.count("[1900") == chunk.count
    assert "3 jobs in" in out and "3 complete" in out and "next: ./aggregate out > scatter.html" in out
    others = {fake.probe(0)["cwd"], fake.probe(10)["cwd"], fake.probe(20)["cwd"]}
    assert len(others) == 3


def test_a_payload_without_its_execute_bit_runs_and_keeps_its_mode(fake, tmp_path, capsys):
    fake.path.chmod(0o644)
    assert submit.main(["--local", "--chunk", "25"]) == 0, capsys.readouterr()
    assert fake.path.stat().st_mode & 0o777 == 0o644


def test_split_jobs_read_their_slice(fake, tmp_path, capsys):
    assert submit.main(["--local", "--chunk", "10", "--split"]) == 0
    probe = fake.probe(20)
    assert probe["listing"] == ["luminance.pex", "manifest.20.txt"]
    assert probe["stdin"].startswith("#@photodemo offset record=20 line=22\n")
    assert probe["stdin"].count("\n") == 6
    assert os.path.exists(tmp_path / "results-20.json")


def test_transient_exit_is_retried_like_htcondor(fake, tmp_path, capsys):
    fake.control({0: {"codes": [3, 3, 0]}, 10: {"codes": [3]}})
    code = submit.main(["--local", "--chunk", "10", "--max-retries", "2"])
    out = capsys.readouterr().out
    assert fake.attempts(0) == 3 and fake.attempts(10) == 3 and fake.attempts(20) == 1
    assert code == 3, out
    assert "job 0: exit 3 (transient failures), retry 1 of 2" in out
    assert "transient failures remain: job 10 (1 records) — see log/job.error.10" in out
    assert "rerun what is left: ./submit --missing --local" in out
    assert results.transient_failures(results.read(str(tmp_path / "results-10.json")))
    assert not results.transient_failures(results.read(str(tmp_path / "results-0.json")))
    # Every retry finds the results of the try before it in its sandbox (the job merges them).
    assert fake.probe(0, 1)["listing"] == ["luminance.pex", "manifest.txt"]
    for attempt in (2, 3):
        assert fake.probe(0, attempt)["listing"] == ["luminance.pex", "manifest.txt",
                                                     "results-0.json"]
    # ... and never overwrites the earlier tries' logs.
    assert sorted(os.listdir(tmp_path / "log")) == sorted(
        "job.{}.{}{}".format(kind, start, suffix) for kind in ("error", "output")
        for start, suffixes in ((0, ("", ".1", ".2")), (10, ("", ".1", ".2")), (20, ("",)))
        for suffix in suffixes)


def test_missing_reuses_the_first_runs_plan_and_keeps_its_logs(fake, tmp_path, capsys):
    fake.control({10: {"codes": [3]}})
    assert submit.main(["--local", "--chunk", "10", "--max-retries", "0", "--metric", "luma"]) == 3
    fake.control({})
    assert submit.main(["--local", "--missing"]) == 0  # no --chunk, no --metric repeated
    out = capsys.readouterr().out
    assert ".: 3 chunks: 2 complete, 1 transient failures" in out and "rerunning 1 job: 10" in out
    assert fake.attempts(10) == 2 and fake.attempts(0) == 1
    assert fake.probe(10, 2)["argv"][1:] == ["results-10.json", "10", "10", "--metric", "luma"]
    assert "results-10.json" in fake.probe(10, 2)["listing"]
    assert os.path.exists(tmp_path / "log" / "job.error.10.1")


def test_a_rerun_that_sends_back_less_never_loses_the_chunks_photos(fake, tmp_path, capsys):
    fake.control({10: {"codes": [3]}})
    assert submit.main(["--local", "--chunk", "10", "--max-retries", "0"]) == 3
    first = results.read(str(tmp_path / "results-10.json"))
    assert len(first["photos"]) == 9
    fake.control({10: {"codes": [5], "empty": True}})  # the rerun lands on a worker without Python
    assert submit.main(["--local", "--missing"]) == local.EXIT_FAILED
    again = results.read(str(tmp_path / "results-10.json"))
    assert again["photos"] == first["photos"] and again["failures"] == first["failures"]
    assert fake.attempts(10) == 2


def test_a_job_that_exits_0_with_records_missing_is_incomplete_as_missing_says(fake, capsys):
    """One judge: --local calls a job complete only when --missing (and a DAG node's POST
    script) would."""
    fake.control({10: {"short": 3}})
    assert submit.main(["--local", "--chunk", "10"]) == local.EXIT_TRANSIENT
    out = capsys.readouterr().out
    assert "3 jobs in" in out and "2 complete, 1 incomplete" in out
    assert "incomplete: job 10: ./results-10.json: 3 of 10 records have no entry" in out
    fake.control({})
    assert submit.main(["--local", "--missing", "--dry-run"]) == 0
    assert "rerunning 1 job: 10" in capsys.readouterr().out


def test_a_failed_job_is_named_with_its_error_log(fake, tmp_path, capsys):
    fake.control({10: {"codes": [1]}, 20: {"no_results": True}})
    code = submit.main(["--local", "--chunk", "10"])
    out = capsys.readouterr().out
    assert code == local.EXIT_FAILED
    assert fake.attempts(10) == 1  # only exit 3 is retried
    assert ("failed: job 10 (results-10.json): exit 1: Traceback (most recent call last): boom"
            " — see log/job.error.10") in out
    assert ("failed: job 20 (results-20.json): exit 0 but left no results-20.json (HTCondor "
            "would put this job on hold)") in out
    assert os.path.exists(tmp_path / "results-0.json")


def test_progress_line_on_a_terminal(fake, tmp_path):
    fake.control({0: {"sleep": 1.2}})
    batch = Batch(plan(25, 25), str(fake.path), "manifest.txt", str(tmp_path), str(tmp_path), [])
    stream = io.StringIO()
    outcomes = local.Runner(batch, 1, stream, tty=True).run()
    assert [o.state for o in outcomes] == [local.DONE]
    text = stream.getvalue()
    assert "\r\x1b[Kjobs 0/1 done, 1 running, 0 failed | " in text
    assert "job 0 (records 0-24): done" not in text  # a terminal shows the line, not every event


def test_plain_lines_when_not_a_terminal(fake, tmp_path):
    batch = Batch(plan(25, 10), str(fake.path), "manifest.txt", str(tmp_path), str(tmp_path), [])
    stream = io.StringIO()
    local.Runner(batch, 2, stream, tty=False).run()
    lines = stream.getvalue().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [
        "job 0 (records 0-9)", "job 10 (records 10-19)", "job 20 (records 20-24)"]
    assert "\r" not in stream.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, local.EXIT_INTERRUPTED),
                                          (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_ctrl_c_or_sigterm_stops_running_jobs_and_keeps_finished_results(fake, tmp_path, signum,
                                                                          code):
    fake.control({10: {"sleep": 60}, 20: {"sleep": 60}})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    proc = subprocess.Popen([os.path.join(ROOT, "submit"), "--local", "--chunk", "10", "--jobs", "2"],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    deadline = time.time() + 30
    while not (fake.attempts(20) and os.path.exists(tmp_path / "results-0.json")):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)  # both sleepers are in their sleep
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == code, out
    assert os.path.exists(tmp_path / "results-0.json")
    assert not os.path.exists(tmp_path / "results-10.json")
    assert not os.path.exists(tmp_path / "results-20.json")
    for start in (10, 20):
        pid = fake.probe(start)["pid"]
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert os.listdir(scratch) == []  # every sandbox removed
    assert "interrupted: finished results are kept; resume with: ./submit --missing --local" in out


# -- the real pex, against a real HTTP server -----------------------------------------------------

@pytest.fixture
def archive(server, tmp_path, monkeypatch):
    """33 photos served over HTTP (one of them missing: a permanent failure), and their manifest."""
    monkeypatch.chdir(tmp_path)
    lines = ["# a small archive"]
    for n in range(32):
        lines.append("{} {}".format(server.add("/p{}.jpg".format(n), jpeg(48, 32, seed=n)), 1900 + n))
    lines.append("{} ?".format(server.url("/gone.jpg")))
    (tmp_path / "manifest.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def check_results(directory, chunks):
    for chunk in chunks:
        document = results.read(str(directory / chunk.results_name))
        records = sorted(item["record"] for item in document["photos"] + document["failures"])
        assert records == list(range(chunk.start, chunk.stop))


@pytest.mark.slow
def test_real_pex_locally_and_missing_reruns_exactly_the_lost_chunks(archive, pex, capsys):
    common = ["--local", "--payload", pex, "--chunk", "10", "--results", "out"]
    assert submit.main(common) == 0, capsys.readouterr()
    chunks = plan(33, 10)
    check_results(archive / "out", chunks)
    gone = results.read(str(archive / "out" / "results-30.json"))["failures"]
    assert [(f["record"], f["line"], f["transient"]) for f in gone] == [(32, 34, False)]
    assert "4 jobs in" in capsys.readouterr().out

    kept = os.stat(archive / "out" / "results-10.json").st_mtime_ns
    os.unlink(archive / "out" / "results-0.json")
    os.unlink(archive / "out" / "results-20.json")
    assert submit.main(common + ["--missing"]) == 0
    out = capsys.readouterr().out
    assert "out: 4 chunks: 2 complete, 2 missing" in out
    assert "rerunning 2 jobs: 0, 20" in out
    check_results(archive / "out", chunks)
    assert os.stat(archive / "out" / "results-10.json").st_mtime_ns == kept


@pytest.mark.slow
def test_real_pex_with_split_slices(archive, pex, capsys):
    assert submit.main(["--local", "--payload", pex, "--chunk", "10", "--split"]) == 0
    check_results(archive, plan(33, 10))
    document = results.read(str(archive / "results-30.json"))
    assert [p["line"] for p in document["photos"]] == [32, 33]  # global line numbers


def test_a_running_jobs_progress_counts_only_complete_photo_and_failure_lines(tmp_path):
    log = tmp_path / "job.output.0"
    log.write_text("/* Running on host: h */\n[1900, 0.500000],\n[null, 0.250000],\n[1901, 0.5")
    assert local._count_lines(str(log), local.parse_photo_line) == 2  # the last is still being written
    errors = tmp_path / "job.error.0"
    errors.write_text("stdin:3: http://h/a.jpg: HTTP 404\nluminance.pex: error: bad\n"
                      "stdin:4: -: no URL (transient)\n")
    assert local._count_lines(str(errors), local.parse_failure_line) == 2
    assert local._count_lines(str(tmp_path / "absent"), local.parse_photo_line) == 0
