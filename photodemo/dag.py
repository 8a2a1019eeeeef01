"""The run as one DAGMan workflow: photodemo.dag, its node scripts, and what DAGMan says of it.

One node per chunk, every node the same submit description (submit.sub) with the chunk in VARS;
a PRE script that keeps the last attempt's logs and, before a retry, defers (SCRIPT DEFER) until
the back-off has passed; a POST script that judges the chunk from its results file (judge.py, the
rule --missing and --wait use) and so decides between done, retried (RETRY ... UNLESS-EXIT) and
failed for good; a FINAL node that runs ./aggregate on the access point whatever happened, so the
page lists a chunk that failed as missing. DAGMan throttles (-maxjobs, -maxidle), writes a node
status file (progress), a rescue DAG (what --missing completes) and its own event log (whether it
still runs). Run as a script (`python3 photodemo/dag.py pre|post ...`), this module is the node
scripts DAGMan runs.
"""

if __name__ == "__main__" and not __package__:  # DAGMan runs this file as a node script
    import os as _os
    import sys as _sys
    _sys.path[0] = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    import photodemo  # noqa: F401  (puts payload/ on sys.path)

import os
import re
import shutil
import subprocess
import sys
import time
from typing import Dict, List, NamedTuple, Optional, Sequence, Set

from luminance.core.files import open_regular, write_atomically

from photodemo.jobs import LOG_DIR, Chunk
from photodemo import condor, eventlog, judge
from photodemo.batch import Batch, keep_logs, relative_to, write_pending

__all__ = ["DAG_FILE", "PAGE", "describe", "final_description", "write", "submit", "Submitted",
           "Status", "status", "dagman_active", "rescue_covers", "node_name", "main"]

DAG_FILE = "photodemo.dag"
# DAGMan names its own files after the DAG file, beside it.
STATUS_SUFFIX, CONFIG_SUFFIX = ".status", ".config"
DAGMAN_LOG_SUFFIX, NODES_LOG_SUFFIX = ".dagman.log", ".nodes.log"
FINAL_SUBMIT = "aggregate.sub"
FINAL_NODE = "aggregate"
PAGE = "scatter.html"
NODE_PREFIX = "chunk"
# The POST script's verdict, which DAGMan reads as the node's exit: done, worth another try
# (RETRY), or final (UNLESS-EXIT: another try would end the same).
POST_DONE, POST_RETRY, POST_FINAL = 0, 1, 2
# The PRE script's "not yet" (SCRIPT DEFER): DAGMan runs it again after the back-off.
PRE_DEFER = 75
# The node status file is read whole: a node's block is under 1 KB, so this holds any run's; a
# larger file (or a FIFO, a device) is not DAGMan's and is left unread.
MAX_STATUS_BYTES = 256 << 20
# DAGMan's $RETURN for a node job removed from the queue (condor_rm, periodic_remove).
RETURN_REMOVED = -1002
# How often DAGMan rewrites the node status file, in seconds (its minimum interval).
STATUS_INTERVAL = 5
# Idle node jobs DAGMan keeps in the queue at most (-maxidle): DAGMan's own default, written in
# the DAG's config so that rescues and hand submissions keep it; it adapts submission to the
# pool's load (HTCondor manual, "DAGMan Throttling").
MAX_IDLE = 1000


def node_name(chunk: Chunk) -> str:
    return "{}{}".format(NODE_PREFIX, chunk.start)


def _paths(results: str, workdir: str) -> Dict[str, str]:
    """The DAG's files, as DAGMan (running in WORKDIR) names them."""
    dag = os.path.join(relative_to(results, workdir), DAG_FILE)
    return {"dag": os.path.normpath(dag), "status": dag + STATUS_SUFFIX,
            "config": dag + CONFIG_SUFFIX, "dagman_log": dag + DAGMAN_LOG_SUFFIX,
            "nodes_log": dag + NODES_LOG_SUFFIX}


def dag_path(results: str) -> str:
    return os.path.normpath(os.path.join(results, DAG_FILE))


def _script(*words: str) -> str:
    """A node script's command line: this module run by this Python."""
    return " ".join((sys.executable, os.path.abspath(__file__)) + words)


def describe(batch: Batch, submit_file: str) -> str:
    """The text of photodemo.dag: one node per chunk of BATCH sharing SUBMIT_FILE, and FINAL."""
    paths = _paths(batch.results, batch.workdir)
    results = relative_to(batch.results, batch.workdir)
    lines = [
        "# photodemo: {} chunk node{} and a FINAL node that makes the page. Written by ./submit;"
        .format(len(batch.chunks), "" if len(batch.chunks) == 1 else "s"),
        "# run (again: DAGMan's rescue runs only the unfinished nodes) with",
        "#   condor_submit_dag {}".format(paths["dag"]),
        "CONFIG {}".format(paths["config"]),
        "NODE_STATUS_FILE {} {}".format(paths["status"], STATUS_INTERVAL),
        "",
        "# Each node: the chunk's job ({}, START COUNT in VARS). PRE keeps the last".format(
            submit_file),
        "# attempt's logs and waits out the back-off before a retry; POST judges the results file:",
        "# exit {} complete, {} retry (transient failures, records left), {} final.".format(
            POST_DONE, POST_RETRY, POST_FINAL),
    ]
    defer = "DEFER {} {} ".format(PRE_DEFER, batch.backoff) if batch.backoff else ""
    for chunk in batch.chunks:
        name = node_name(chunk)
        where = (results, str(chunk.start), str(chunk.count))
        objects = "" if batch.transfers is None else ' objects="{}"'.format(
            condor.objects(batch, chunk))
        lines += ["JOB {} {}".format(name, submit_file),
                  'VARS {} start="{}" count="{}"{}'.format(name, chunk.start, chunk.count, objects),
                  "SCRIPT {}PRE {} {}".format(defer, name, _script(
                      "pre", *where, "$RETRY", str(batch.backoff))),
                  "SCRIPT POST {} {}".format(name, _script("post", *where, "$RETURN"))]
        if batch.max_retries:
            lines.append("RETRY {} {} UNLESS-EXIT {}".format(name, batch.max_retries, POST_FINAL))
    lines += ["", "# Whatever the chunks did: ./aggregate on this access point writes the page.",
              "FINAL {} {}".format(FINAL_NODE, FINAL_SUBMIT)]
    return "\n".join(lines) + "\n"


def config(max_jobs: int = 0) -> str:
    """photodemo.dag.config: DAGMan's settings for this DAG (its CONFIG line), so that a rescue
    or a condor_submit_dag by hand runs with them too; at most MAX_JOBS node jobs (0: any)."""
    lines = [
        "# DAGMan settings for photodemo.dag (written by ./submit).",
        "# At most {} idle node jobs in the queue at once (-maxidle).".format(MAX_IDLE),
        "DAGMAN_MAX_JOBS_IDLE = {}".format(MAX_IDLE),
    ]
    if max_jobs:
        lines += ["# --max-running: at most {} node jobs in the queue at once (-maxjobs): the load on"
                  .format(max_jobs), "# the photo server is this many jobs' --workers connections.",
                  "DAGMAN_MAX_JOBS_SUBMITTED = {}".format(max_jobs)]
    return "\n".join(lines) + "\n"


def final_description(python: str, aggregate: str, results: str, manifest: str,
                      page: str) -> str:
    """aggregate.sub: the FINAL node, ./aggregate in the local universe (on the access point);
    the page is written beside and renamed, so a failed run never leaves half a page."""
    partial = page + ".part"
    command = "{} {} {} --manifest {} > {} && mv {} {}".format(
        python, aggregate, results, manifest, partial, partial, page)
    return "\n".join([
        "# photodemo's FINAL node: the run's page, made on the access point whatever the chunks",
        "# did (a chunk without results is listed as missing). Written by ./submit.",
        "universe = local",
        "executable = /bin/sh",
        "arguments = \"-c '{}'\"".format(command),
        "output = {}/aggregate.output".format(LOG_DIR),
        "error = {}/aggregate.error".format(LOG_DIR),
        "log = job.log",
        "queue",
    ]) + "\n"


def write(batch: Batch, submit_file: str, final: str) -> str:
    """Write photodemo.dag, its config and the FINAL node's description; the DAG's path."""
    paths = _paths(batch.results, batch.workdir)
    write_atomically(os.path.join(batch.workdir, paths["config"]), config(batch.max_running))
    write_atomically(os.path.join(batch.workdir, FINAL_SUBMIT), final)
    path = os.path.join(batch.workdir, paths["dag"])
    write_atomically(path, describe(batch, submit_file))
    return path


class Submitted(NamedTuple):
    returncode: int
    output: str
    cluster: Optional[int]


def find_condor_submit_dag() -> Optional[str]:
    return shutil.which("condor_submit_dag")


def submit(workdir: str, results: str, force: bool = False,
           command: Optional[str] = None) -> Submitted:
    """condor_submit_dag the run's DAG from WORKDIR (its rescue DAG, where one exists, unless
    FORCE); its throttles are in its config."""
    argv = [command or find_condor_submit_dag() or "condor_submit_dag", "-batch-name", "photodemo"]
    if force:
        argv.append("-force")
    paths = _paths(results, workdir)
    argv.append(paths["dag"])
    try:  # the last DAG's: what --wait shows must be this one's
        os.remove(os.path.join(workdir, paths["status"]))
    except FileNotFoundError:
        pass
    proc = subprocess.run(argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    match = re.search(r"submitted to cluster (\d+)", proc.stdout)
    return Submitted(proc.returncode, proc.stdout, int(match.group(1)) if match else None)


# -- what DAGMan says ------------------------------------------------------------------------------

_ATTRIBUTE = re.compile(r'^\s*(\w+)\s*=\s*(.*?);\s*(?:/\*\s*"?([^"*]*)"?\s*\*/)?\s*$')
# NodeStatus (DAGMan's node status file, "STATUS_..."): what each means for a chunk.
_NODE_STATES = {"STATUS_NOT_READY": judge.QUEUED, "STATUS_READY": judge.QUEUED,
                "STATUS_PRERUN": judge.QUEUED, "STATUS_SUBMITTED": judge.RUNNING,
                "STATUS_POSTRUN": judge.RUNNING}


class Status(NamedTuple):
    """The node status file: DAGMan's counts, and {chunk start: (state, detail)} of the chunk
    nodes DAGMan still works on."""

    done: int
    total: int
    failed: int
    in_queue: Dict[int, tuple]
    held: int


def _blocks(text: str) -> List[Dict[str, str]]:
    blocks, current = [], None
    for line in text.splitlines():
        if line.strip() == "[":
            current = {}
        elif line.strip() == "]" and current is not None:
            blocks.append(current)
            current = None
        elif current is not None:
            match = _ATTRIBUTE.match(line)
            if match:
                name, value, comment = match.groups()
                current[name] = comment if name == "NodeStatus" and comment else value.strip('"')
    return blocks


def status(results: str) -> Optional[Status]:
    """What the node status file in RESULTS says; None before DAGMan first writes it, or when what
    is there is not a regular file of at most MAX_STATUS_BYTES (files.open_regular)."""
    try:
        with open_regular(os.path.join(results, DAG_FILE + STATUS_SUFFIX), MAX_STATUS_BYTES,
                          "a node status file") as stream:
            text = stream.read(MAX_STATUS_BYTES + 1).decode("utf-8", "replace")
    except OSError:
        return None
    done = total = failed = held = 0
    in_queue: Dict[int, tuple] = {}
    for block in _blocks(text):
        if block.get("Type") == "DagStatus":
            done, failed = int(block.get("NodesDone", 0)), int(block.get("NodesFailed", 0))
            total = int(block.get("NodesTotal", 0))
            held = int(block.get("JobProcsHeld", 0))
        elif block.get("Type") == "NodeStatus" and block.get("Node", "").startswith(NODE_PREFIX):
            start = block["Node"][len(NODE_PREFIX):]
            state = _NODE_STATES.get(block.get("NodeStatus", ""))
            if not start.isdigit() or state is None:
                continue
            detail = "node {} {}".format(block["Node"], block["NodeStatus"].replace(
                "STATUS_", "").lower())
            if block.get("RetryCount", "0") != "0":
                detail += ", retry {}".format(block["RetryCount"])
            if block.get("JobProcsHeld", "0") != "0":
                state, detail = judge.HELD, detail + ", its job held (condor_q -hold)"
            in_queue[int(start)] = (state, detail)
    return Status(done, total, failed, in_queue, held)


def dagman_active(results: str, clusters: Sequence[int]) -> List[int]:
    """Which DAGMan jobs of CLUSTERS are still in the queue, from DAGMan's own event log."""
    log = os.path.join(results, DAG_FILE + DAGMAN_LOG_SUFFIX)
    return sorted(cluster for (cluster, _), job in eventlog.jobs(log, list(clusters)).items()
                  if job.active)


def node_jobs(results: str, since_cluster: int) -> Dict:
    """The node jobs DAGMan submitted after its cluster SINCE_CLUSTER: {(cluster, proc): Job}."""
    log = os.path.join(results, DAG_FILE + NODES_LOG_SUFFIX)
    return {key: job for key, job in eventlog.jobs(log).items() if key[0] > since_cluster}


def rescue_covers(results: str, starts: Set[int]) -> bool:
    """Whether DAGMan's latest rescue DAG for the DAG in RESULTS reruns every chunk at STARTS:
    then condor_submit_dag runs it; else (no rescue DAG, or a node it counts done whose results
    are not complete) the DAG is written anew."""
    dag = os.path.join(results, DAG_FILE)
    rescues = sorted(path for path in os.listdir(results or ".")
                     if re.fullmatch(re.escape(DAG_FILE) + r"\.rescue\d{3}", path))
    if not rescues or not os.path.exists(dag):
        return False
    rescue = os.path.join(results, rescues[-1])
    if os.path.getmtime(rescue) < os.path.getmtime(dag):
        return False
    nodes, done = set(), set()
    with open(dag, encoding="utf-8") as stream:
        for line in stream:
            words = line.split()
            if len(words) >= 2 and words[0] == "JOB" and words[1].startswith(NODE_PREFIX):
                nodes.add(int(words[1][len(NODE_PREFIX):]))
    with open(rescue, encoding="utf-8") as stream:
        for line in stream:
            words = line.split()
            if len(words) == 2 and words[0] == "DONE" and words[1].startswith(NODE_PREFIX):
                done.add(int(words[1][len(NODE_PREFIX):]))
    return starts <= nodes - done


# -- the node scripts ------------------------------------------------------------------------------

def pre(results: str, chunk: Chunk, retry: int, backoff: int) -> int:
    """Before each attempt: defer a retry until BACKOFF x RETRY seconds after the last attempt
    wrote the results file; keep the last attempt's logs; make sure the job has a results file
    to be sent (a pending one)."""
    path = os.path.join(results, chunk.results_name)
    if retry and backoff:
        try:
            if time.time() < os.path.getmtime(path) + backoff * retry:
                return PRE_DEFER
        except OSError:
            pass
    keep_logs(".", chunk)
    write_pending(results, [chunk])
    return 0


def post(results: str, chunk: Chunk, returned: int) -> int:
    """After each attempt: the chunk's verdict (judge.judge) as the node's exit."""
    verdict = judge.judge(os.path.join(results, chunk.results_name), chunk)
    print("{}: {}{}".format(node_name(chunk), verdict.state,
                            ": " + verdict.detail if verdict.detail else ""))
    if verdict.state == judge.COMPLETE:
        return POST_DONE
    if returned == RETURN_REMOVED:
        return POST_FINAL  # removed (condor_rm, or held too often): left for --missing
    if verdict.state in (judge.TRANSIENT, judge.INCOMPLETE, judge.PENDING):
        return POST_RETRY
    return POST_FINAL  # failed, corrupt, another chunk's: another try would end the same


def main(argv: Optional[List[str]] = None) -> int:
    """`dag.py pre RESULTS START COUNT RETRY BACKOFF` or `dag.py post RESULTS START COUNT RETURN`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    step, results, start, count, number = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4]
    chunk = Chunk(start, count)
    if step == "pre":
        return pre(results, chunk, int(number), int(argv[5]))
    return post(results, chunk, int(number))


if __name__ == "__main__":
    sys.exit(main())
