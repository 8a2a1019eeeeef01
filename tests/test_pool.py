"""./submit on a real HTCondor pool: the personal pool of ../shared/htcondor (real daemons, real
starters and sandboxes, file transfer, DAGMan, jobs as an unprivileged user with no PATH and no
HOME).

One pool per test session (skipped, with the reason, where it cannot start); the real pex; photos
from a real HTTP server on 127.0.0.1; submit directories outside /tmp (DAGMan refuses node logs
there), as users submit from their home. Marked `pool` (deselect with `-m "not pool"`). Back-offs
are a few seconds (--backoff) so the whole module takes a few minutes.
"""

import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from luminance.core import results

from photodemo.images import jpeg
from photodemo import eventlog

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The project's shared folder beside the clone (as CI has it); PHOTODEMO_SHARED names another.
SHARED = os.environ.get("PHOTODEMO_SHARED") or os.path.join(ROOT, "..", "shared")
PERSONAL_POOL = os.path.normpath(os.path.join(SHARED, "htcondor", "personal-pool"))
POOL_USER = "condorpool"  # the user personal-pool runs jobs as, when started by root
# A CPython 3.6, EL8's python3, to make a worker with no usable Python (pyenv's, where it exists).
OLD_PYTHON = (sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6.*"))) or ["(none)"])[-1]

pytestmark = [pytest.mark.pool, pytest.mark.slow, pytest.mark.xdist_group("pool")]
# DAGMan refuses a node log under /tmp: the pool and its submit directories live here.
POOL_PARENT = "/var/tmp"

# A job wrapper that, while the pool's `old-python` flag file exists, gives the job a PATH with
# only a python3 3.6: a worker like an EL8 one.
WRAPPER = """#!/bin/sh
if [ -e {flag} ]; then
    PATH={bin}; LD_LIBRARY_PATH={lib}; export PATH LD_LIBRARY_PATH
fi
exec "$@"
"""


class Pool:
    """A running personal pool: commands as its user, submit directories it can use."""

    def __init__(self, base: str):
        self.base = base
        self.directory = os.path.join(base, "pool")
        self.code = os.path.join(base, "code")
        self.flag = os.path.join(base, "old-python")
        self.user = POOL_USER if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name

    def run(self, argv, cwd, timeout=120):
        return subprocess.run([PERSONAL_POOL, "run", self.directory, "--"] + list(argv), cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout)

    def submit(self, directory, *options, timeout=300):
        return self.run([os.path.join(self.code, "submit")] + list(options), directory, timeout)

    def submit_dir(self, pex, lines):
        """A submit directory the pool's user owns: the pex in dist/, the manifest LINES."""
        directory = tempfile.mkdtemp(prefix="submit-", dir=self.base)
        os.chmod(directory, 0o755)
        os.makedirs(os.path.join(directory, "dist"))
        shutil.copy(pex, os.path.join(directory, "dist", "luminance.pex"))
        with open(os.path.join(directory, "manifest.txt"), "w") as stream:
            stream.write("\n".join(lines) + "\n")
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", self.user + ":", directory], check=True)
        return directory


def _code_copy(base):
    """./submit and the code it imports, where the pool's user can read them (a clone under
    /root is not)."""
    code = os.path.join(base, "code")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(os.path.join(ROOT, "photodemo"), os.path.join(code, "photodemo"), ignore=ignore)
    shutil.copytree(os.path.join(ROOT, "payload"), os.path.join(code, "payload"), ignore=ignore)
    shutil.copy(os.path.join(ROOT, "submit"), os.path.join(code, "submit"))
    shutil.copy(os.path.join(ROOT, "aggregate"), os.path.join(code, "aggregate"))
    subprocess.run(["chmod", "-R", "a+rX", code], check=True)


def _pool_config(base):
    """Pool configuration: DAGMan's pace, and the old-python flag (a copy of a 3.6 the pool's
    user can run)."""
    config = os.path.join(base, "pool.config")
    # DAGMan reads its nodes' events every DAGMAN_USER_LOG_SCAN_INTERVAL (5 s by default): on a
    # loopback pool that wait, not the jobs, is most of a DAG test.
    lines = ["DAGMAN_USER_LOG_SCAN_INTERVAL = 1"]
    if os.path.isdir(OLD_PYTHON):
        copy = os.path.join(base, "python3.6")
        shutil.copytree(OLD_PYTHON, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("test", "site-packages", "__pycache__"))
        only = os.path.join(base, "only-python3.6")
        os.makedirs(only)
        os.symlink(os.path.join(copy, "bin", "python3.6"), os.path.join(only, "python3"))
        os.symlink(os.path.join(copy, "bin", "python3.6"), os.path.join(only, "python3.6"))
        wrapper = os.path.join(base, "wrapper.sh")
        with open(wrapper, "w") as stream:
            stream.write(WRAPPER.format(flag=os.path.join(base, "old-python"), bin=only,
                                        lib=os.path.join(copy, "lib")))
        os.chmod(wrapper, 0o755)
        lines.append("USER_JOB_WRAPPER = {}".format(wrapper))
    with open(config, "w") as stream:
        stream.write("\n".join(lines) + "\n")
    subprocess.run(["chmod", "-R", "a+rX", base], check=True)
    return config


def _unavailable(reason):
    """Skip with REASON; fail instead where CI says the pool must run (PHOTODEMO_REQUIRE_POOL=1)."""
    if os.environ.get("PHOTODEMO_REQUIRE_POOL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pool():
    if not os.path.isfile(PERSONAL_POOL):
        _unavailable("no personal HTCondor pool at {} (set PHOTODEMO_SHARED to the folder "
                    "holding htcondor/)".format(PERSONAL_POOL))
    base = tempfile.mkdtemp(prefix="photodemo-pool-", dir=POOL_PARENT)
    os.chmod(base, 0o755)  # the pool's user must reach it
    _code_copy(base)
    config = _pool_config(base)
    started = subprocess.run([PERSONAL_POOL, "start", os.path.join(base, "pool"), "--slots", "2",
                              "--config", config], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    if started.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        _unavailable("the personal pool did not start: {}".format(
            (started.stdout.strip().splitlines() or ["?"])[-1]))
    try:
        yield Pool(base)
    finally:
        subprocess.run([PERSONAL_POOL, "stop", os.path.join(base, "pool")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def archive(server, count, **route):
    """COUNT photos on SERVER (ROUTE options for every other one); their bytes and manifest lines."""
    photos, lines = {}, []
    for n in range(count):
        data = jpeg(48, 32, seed=n)
        options = route if n % 2 == 0 else {}
        url = server.add("/p{}.jpg".format(n), data, **options)
        photos[n] = data
        lines.append("{} {}".format(url, 1900 + n))
    return photos, lines


def read_all(directory, chunks):
    documents = {}
    for start in chunks:
        documents[start] = results.read(os.path.join(directory, "results-{}.json".format(start)))
    return documents


def events(directory):
    return list(eventlog.events(os.path.join(directory, "job.log")))


def cross_check(log):
    """Our event-log reader agrees with HTCondor's own (htcondor.JobEventLog) on LOG."""
    htcondor = pytest.importorskip("htcondor")
    theirs = [e for e in htcondor.JobEventLog(log).events(0) if e.proc >= 0]
    ours = [e for e in eventlog.events(log) if e.proc >= 0]
    assert [(e.code, e.cluster, e.proc) for e in ours] == \
        [(int(e.type), e.cluster, e.proc) for e in theirs]
    for mine, event in zip(ours, theirs):
        if mine.code == eventlog.HELD_EVENT:
            assert mine.detail == (event["HoldReason"], "Code {} Subcode {}".format(
                event["HoldReasonCode"], event["HoldReasonSubCode"]))
        if mine.code == eventlog.TERMINATED:
            assert "(return value {})".format(event["ReturnValue"]) in mine.detail[0]


def test_jobs_run_in_sandboxes_and_bring_back_the_values_computed_here(pool, pex, server):
    from luminance import metrics
    photos, lines = archive(server, 60)
    directory = pool.submit_dir(pex, lines)
    done = pool.submit(directory, "--chunk", "20", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 job(s) submitted to cluster" in done.stdout  # DAGMan's
    assert ".: 3 chunks: 3 complete" in done.stdout and "page: scatter.html" in done.stdout
    for start, document in read_all(directory, (0, 20, 40)).items():
        assert [p["record"] for p in document["photos"]] == list(range(start, start + 20))
        for entry in document["photos"]:
            expected = metrics.measure(photos[entry["record"]]).luminance
            assert entry["luminance"] == pytest.approx(expected, abs=1e-6)
    scratch = {line for e in events(directory) if e.code == eventlog.EXECUTE
               for line in e.detail if line.startswith("CondorScratchDir")}
    assert len(scratch) == 3  # one fresh sandbox per job (the FINAL node runs on the AP)
    cross_check(os.path.join(directory, "job.log"))


def wait_for_file(path, timeout=240):
    """Wait until PATH exists (nothing else run meanwhile); the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if os.path.exists(path):
            return time.monotonic() - began
        time.sleep(0.5)
    raise AssertionError("{}: not written in {} s".format(path, timeout))


def page_photos(directory):
    """The aggregate step's status line (the FINAL node's stderr) and the page's text."""
    with open(os.path.join(directory, "log", "aggregate.error")) as stream:
        status = stream.read().strip().splitlines()[-1]
    with open(os.path.join(directory, "scatter.html")) as stream:
        return status, stream.read()


def node_spans(directory, node):
    """(submitted, terminated) times in seconds of each job DAGMan ran for NODE (nodes.log)."""
    clusters, spans = [], {}
    for event in eventlog.events(os.path.join(directory, "photodemo.dag.nodes.log")):
        when = time.mktime(time.strptime(event.time.split(".")[0], "%Y-%m-%d %H:%M:%S"))
        if event.code == eventlog.SUBMIT and 'DAGNodeName = "{}";'.format(node) in \
                " ".join(event.detail):
            clusters.append(event.cluster)
            spans[event.cluster] = [when, None]
        elif event.code == eventlog.TERMINATED and event.cluster in spans:
            spans[event.cluster][1] = when
    return [spans[cluster] for cluster in clusters]


def attempts(directory, node):
    return len(node_spans(directory, node))


def plotted(text):
    """The years of the points the page plots, sorted (its plot data, x = year)."""
    match = re.search(r'"x":\[([^\]]*)\]', text)
    return sorted(int(year) for year in match.group(1).split(",")) if match else []


def dag_done(pool, directory, timeout=240):
    """Wait until the run's DAGMan jobs have left the queue (DAGMan's own event log)."""
    record = json.load(open(os.path.join(directory, "submit.json")))
    log = os.path.join(directory, "photodemo.dag.dagman.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = eventlog.jobs(log, record["dags"])
        if len(jobs) == len(record["dags"]) and not any(job.active for job in jobs.values()):
            return jobs
        time.sleep(1)
    raise AssertionError("DAGMan still runs after {} s".format(timeout))


def test_the_dag_retries_a_transient_chunk_and_writes_the_page_with_nobody_waiting(pool, pex,
                                                                                   server):
    photos, lines = archive(server, 60)
    for n in range(20, 40):  # the second chunk's photos answer 503 to their first request
        server.add("/p{}.jpg".format(n), photos[n], fail_first=1, fail_status=503)
    directory = pool.submit_dir(pex, lines)
    began = time.monotonic()
    submitted = pool.submit(directory, "--chunk", "20", "--retries", "0", "--backoff", "10")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "the DAG runs on its own: log out if you like" in submitted.stdout
    returned = time.monotonic() - began
    waited = wait_for_file(os.path.join(directory, "scatter.html"))
    status, text = page_photos(directory)
    assert status == "60 photos from 3 files; 0 failed; 0 chunks missing"
    assert plotted(text) == list(range(1900, 1960))  # all 60 values on the page
    # chunk20's node ran twice, the retry submitted after the 10 s back-off; the others once.
    assert attempts(directory, "chunk0") == attempts(directory, "chunk40") == 1
    first, second = node_spans(directory, "chunk20")
    assert second[0] - first[1] >= 10, (first, second)
    with open(os.path.join(directory, "photodemo.dag.dagman.out")) as stream:
        log = stream.read()  # DAGMan itself waited out the back-off (SCRIPT DEFER), no slot held
    assert "Deferring PRE script of node chunk20 for 10 seconds (exit status was 75)" in log
    for document in read_all(directory, (0, 20, 40)).values():
        assert len(document["photos"]) == 20 and not document["failures"]
    # The retry was sent the first attempt's results and kept them: every photo that came
    # through the first time was fetched once; the 503s twice.
    assert all(server.hits["/p{}.jpg".format(n)] == 1 for n in list(range(20)) + list(range(40, 60)))
    assert all(server.hits["/p{}.jpg".format(n)] == 2 for n in range(20, 40))
    sys.stdout.write("\n[timing] ./submit returned in {:.1f} s; the page appeared {:.1f} s later\n"
                     .format(returned, waited))


def test_a_removed_job_leaves_a_page_listing_its_chunk_and_missing_completes_the_run(pool, pex,
                                                                                    server):
    photos, lines = archive(server, 30)
    for n in range(10, 20):  # the second chunk's job runs long enough to be removed
        server.add("/p{}.jpg".format(n), photos[n], delay=2)
    directory = pool.submit_dir(pex, lines)
    began = time.monotonic()
    first = pool.submit(directory, "--chunk", "10", "--workers", "1", "--backoff", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    wait_for(directory, lambda jobs: any(
        job.status == eventlog.RUNNING and job.slot for job in jobs.values()
        if job.cluster == max(j.cluster for j in jobs.values())) and len(jobs) >= 2)
    ad = pool.run(["condor_q", "-af", "ClusterId", "DAGNodeName"], directory).stdout.split("\n")
    node = {line.split()[1]: line.split()[0] for line in ad if len(line.split()) == 2}
    assert "chunk10" in node, ad
    assert pool.run(["condor_rm", node["chunk10"]], directory).returncode == 0
    dag_done(pool, directory)
    first_page = time.monotonic() - began
    status, _ = page_photos(directory)
    assert status.endswith("; 1 chunks missing") or "1 chunk" in status, status
    waiting = pool.submit(directory, "--missing", "--dry-run")
    assert "  incomplete: " in waiting.stdout or "not run yet" in waiting.stdout or \
        "transient" in waiting.stdout, waiting.stdout
    os.remove(os.path.join(directory, "scatter.html"))
    began = time.monotonic()
    rest = pool.submit(directory, "--missing")
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert "3 chunks: 2 complete" in rest.stdout
    assert "running 1 job: 10 (DAGMan's rescue DAG)" in rest.stdout
    again = pool.submit(directory, "--missing")  # DAGMan runs: nothing is submitted twice
    assert "nothing to submit now: DAGMan" in again.stdout, again.stdout + again.stderr
    waited = wait_for_file(os.path.join(directory, "scatter.html"))
    status, _ = page_photos(directory)
    assert status == "30 photos from 3 files; 0 failed; 0 chunks missing"
    sys.stdout.write("\n[timing] first page {:.1f} s after ./submit; --missing to the whole page "
                     "{:.1f} s\n".format(first_page, waited))


def test_an_evicted_job_keeps_what_it_measured(pool, pex, server):
    photos, lines = archive(server, 12)
    for n in range(12):
        server.add("/p{}.jpg".format(n), photos[n], delay=1)
    directory = pool.submit_dir(pex, lines)
    first = pool.submit(directory, "--chunk", "12", "--workers", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    deadline = time.monotonic() + 120
    while sum(server.hits.values()) < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    jobs = eventlog.jobs(os.path.join(directory, "job.log"))
    job = next(job for job in jobs.values() if job.status == eventlog.RUNNING)
    assert pool.run(["condor_vacate_job", job.id], directory).returncode == 0
    dag_done(pool, directory)
    document = read_all(directory, (0,))[0]
    assert len(document["photos"]) == 12
    assert sum(1 for e in events(directory) if e.code == eventlog.EVICTED) >= 1
    fetched_twice = [n for n in range(12) if server.hits["/p{}.jpg".format(n)] > 1]
    assert len(fetched_twice) <= 1, server.hits  # at most the photo in flight at the eviction


def wait_for(directory, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = eventlog.jobs(os.path.join(directory, "job.log"))
        if jobs and predicate(jobs):
            return jobs
        time.sleep(1)
    raise AssertionError("job.log: not reached in {} s: {}".format(timeout, events(directory)))


def test_a_worker_without_a_usable_python_leaves_no_job_on_hold_without_a_reason(pool, pex, server):
    if not os.path.isdir(os.path.join(pool.base, "python3.6")):
        pytest.skip("no CPython 3.6 at {} to make an EL8-like worker".format(OLD_PYTHON))
    _, lines = archive(server, 5)
    directory = pool.submit_dir(pex, lines)
    open(pool.flag, "w").close()
    try:
        first = pool.submit(directory, "--chunk", "5")
        assert first.returncode == 0, first.stdout + first.stderr
        jobs = wait_for(directory, lambda jobs: all(
            job.status == eventlog.DONE or job.holds for job in jobs.values()))
    finally:
        os.remove(pool.flag)
    job = next(iter(jobs.values()))
    # The payload boots on 3.6, finds no libraries for it, writes its results and exits 5: held
    # with the reason, released at once, sent elsewhere.
    assert job.holds, job
    assert job.hold_reason == "photodemo: the worker has no Python the payload can use (exit 5)"
    assert (job.hold_code, job.hold_subcode) == (3, 5)
    jobs = wait_for(directory, lambda jobs: next(iter(jobs.values())).status != eventlog.HELD)
    ad = pool.run(["condor_q", job.id, "-af", "JobStatus", "MachineAttrMachine0", "Machine"],
                  directory).stdout.split()
    assert ad[0] == "1"  # idle: released, waiting for another machine (this pool has one)
    pool.run(["condor_rm", job.id], directory)
    assert all(e.detail[0].startswith("photodemo:") for e in events(directory)
               if e.code == eventlog.HELD_EVENT)


def test_a_rerun_on_a_worker_without_a_usable_python_keeps_the_chunks_photos(pool, pex, server):
    # Seen on this pool: results-0.json went from 1 photo to 0 when its rerun ended with exit 5.
    if not os.path.isdir(os.path.join(pool.base, "python3.6")):
        pytest.skip("no CPython 3.6 at {} to make an EL8-like worker".format(OLD_PYTHON))
    _, lines = archive(server, 2)
    server.add("/p1.jpg", status=503, content_type="text/plain")  # a storage outage for record 1
    directory = pool.submit_dir(pex, lines)
    first = pool.submit(directory, "--chunk", "2", "--retries", "0", "--max-retries", "0", "--wait")
    assert "transient failures: ./results-0.json: 1 record" in first.stdout, first.stdout + first.stderr
    earlier = results.read(os.path.join(directory, "results-0.json"))
    assert [p["record"] for p in earlier["photos"]] == [0]
    open(pool.flag, "w").close()
    try:
        rerun = pool.submit(directory, "--missing")
        assert "rerunning 1 job: 0" in rerun.stdout, rerun.stdout + rerun.stderr
        # job.log holds each run's chunk job and its FINAL node's ./aggregate: the rerun's chunk
        # job is the third. --max-retries 0 (from the run record): the exit-5 job ends, not held.
        jobs = wait_for(directory, lambda jobs: len(jobs) == 4 and not any(j.active for j in jobs.values()))
    finally:
        os.remove(pool.flag)
    rerun_job = sorted(jobs.items())[2][1]
    assert rerun_job.exit_code == 5 and not rerun_job.holds  # the worker's python3: 3.6
    again = results.read(os.path.join(directory, "results-0.json"))
    assert again["photos"] == earlier["photos"] and again["failures"] == earlier["failures"]
    assert again["job"]["python"].startswith("3.6.") and again["job"]["error"].startswith("this pex has no ")


def test_exit_5_is_held_with_the_reason_released_and_kept_off_that_machine(pool, pex, server):
    """The payload's "this worker cannot run me" (exit 5), from a stand-in for the pex."""
    _, lines = archive(server, 2)
    directory = pool.submit_dir(pex, lines)
    stand_in = os.path.join(directory, "dist", "unsuitable.sh")
    with open(stand_in, "w") as stream:
        stream.write("#!/bin/sh\nls\necho 'no python3 >= 3.9 here' >&2\nexit 5\n")
    os.chmod(stand_in, 0o755)
    first = pool.submit(directory, "--chunk", "2", "--payload", "dist/unsuitable.sh")
    assert first.returncode == 0, first.stdout + first.stderr
    jobs = wait_for(directory, lambda jobs: all(job.holds and job.status == eventlog.IDLE
                                                for job in jobs.values()))
    job = next(iter(jobs.values()))
    assert job.hold_reason == "photodemo: the worker has no Python the payload can use (exit 5)"
    assert (job.hold_code, job.hold_subcode, job.starts) == (3, 5, 1)
    # The sandbox held the chunk's results file (a pending one): every run finds it there.
    sandbox = open(os.path.join(directory, "log", "job.output.0")).read().split()
    assert "results-0.json" in sandbox and "unsuitable.sh" in sandbox
    time.sleep(15)  # three negotiation cycles, two free slots: it must not match this machine
    ad = pool.run(["condor_q", job.id, "-af", "JobStatus", "NumJobStarts", "MachineAttrMachine0"],
                  directory).stdout.split()
    machine = pool.run(["condor_status", "-af", "Machine"], directory).stdout.split()[0]
    assert ad == ["1", "1", machine]
    assert pool.run(["condor_rm", job.id], directory).returncode == 0


def test_max_running_runs_one_job_at_a_time(pool, pex, server):
    _, lines = archive(server, 9)
    directory = pool.submit_dir(pex, lines)
    done = pool.submit(directory, "--chunk", "3", "--max-running", "1", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "load: at most 1 job at once" in done.stdout
    spans = {}
    for event in events(directory):
        if event.code in (eventlog.EXECUTE, eventlog.TERMINATED):
            spans.setdefault(event.cluster, []).append(event.time)
    ordered = sorted(spans.values())
    assert len(ordered) == 4  # one cluster a node: three chunks, then the page
    for before, after in zip(ordered, ordered[1:]):
        assert before[-1] <= after[0]  # each job ended before the next one started


def test_test_mode_measures_a_few_jobs_and_missing_submits_the_rest(pool, pex, server):
    _, lines = archive(server, 30)
    directory = pool.submit_dir(pex, lines)
    tried = pool.submit(directory, "--chunk", "10", "--test", "1")
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert "manifest.txt: 30 records -> 1 job (of 3): 1 x 10 records" in tried.stdout
    assert " s per photo " in tried.stdout and "memory used at most" in tried.stdout
    assert "test: --chunk 2: 15 jobs of about" in tried.stdout  # spread over the pool
    assert "next: ./submit --missing" in tried.stdout
    rest = pool.submit(directory, "--missing", "--wait")  # --chunk 10 from the run record
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert "rerunning 2 jobs: 10, 20" in rest.stdout and ".: 3 chunks: 3 complete" in rest.stdout
    record = json.load(open(os.path.join(directory, "submit.json")))
    assert len(record["dags"]) == 2
    sys.stdout.write("\n--- ./submit --test 1 ---\n" + tried.stdout + "\n--- --missing --wait ---\n"
                     + rest.stdout)  # the README's captured output (pytest -s)


def test_transferred_files_are_read_from_the_sandbox_and_recorded_by_their_urls(pool, pex):
    """--transfer-osdf on a real pool. This pool has no osdf plugin (and no OSDF to reach), so the
    real condor_submit is shown the description as written (it asks for the plugin), and then the
    same submit.sub runs with each object's URL in transfers.txt replaced by a local file of the
    same name: what the osdf plugin would leave in the sandbox. The jobs read the photos there and
    record them by their osdf:// URLs."""
    from luminance import metrics
    private = "osdf:///ospool/ap40/data/alice/photos"
    photos = {"p{}.jpg".format(n): jpeg(48, 32, seed=n) for n in range(5)}
    lines = ["{}/{} {}".format(private, name, 1900 + n) for n, name in enumerate(sorted(photos))]
    directory = pool.submit_dir(pex, lines)
    staged = tempfile.mkdtemp(prefix="staged-", dir=pool.base)
    for name, data in photos.items():
        with open(os.path.join(staged, name), "wb") as stream:
            stream.write(data)
    subprocess.run(["chmod", "-R", "a+rX", staged], check=True)
    plan = pool.submit(directory, "--chunk", "3", "--transfer-osdf", "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "transfer: HTCondor fetches 5 OSDF objects" in plan.stdout
    dry = pool.run(["condor_submit", "-dry-run", "-", "submit.sub", "-queue",
                    "start,count,objects from transfers.txt"], directory)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert 'stringListIMember("osdf",TARGET.HasFileTransferPluginMethods)' in dry.stdout
    listing = os.path.join(directory, "transfers.txt")
    with open(listing) as stream:
        text = stream.read()
    assert text.count(private) == 5
    with open(listing, "w") as stream:
        stream.write(text.replace(private, staged))
    submitted = pool.run(["condor_submit", "submit.sub", "-queue",
                          "start,count,objects from transfers.txt"], directory)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "2 job(s) submitted" in submitted.stdout
    jobs = wait_for(directory, lambda jobs: len(jobs) == 2 and all(
        job.status == eventlog.DONE or job.holds for job in jobs.values()))
    assert [(job.status, job.exit_code) for job in jobs.values()] == [(eventlog.DONE, 0)] * 2
    documents = read_all(directory, (0, 3))
    assert [len(d["photos"]) for d in documents.values()] == [3, 2]
    for document in documents.values():
        assert document["failures"] == []
        for entry in document["photos"]:
            name = "p{}.jpg".format(entry["record"])
            assert entry["url"] == "{}/{}".format(private, name)  # the URL, not the sandbox's name
            assert entry["luminance"] == pytest.approx(metrics.measure(photos[name]).luminance,
                                                       abs=1e-6)
