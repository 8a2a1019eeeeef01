"""The run's DAG (photodemo.dag): its node scripts' decisions, DAGMan's node status file, and
when DAGMan's rescue DAG covers what --missing must run. The pool runs it: tests/test_pool.py."""

import os
import time

from luminance.core import results

from photodemo.jobs import Chunk
from photodemo import dag, judge

STATUS = """[
  Type = "DagStatus";
  DagFiles = {
    "photodemo.dag"
  };
  Timestamp = 1796401304; /* "Fri Dec  4 16:21:44 2026" */
  DagStatus = 3; /* "STATUS_SUBMITTED ()" */
  NodesTotal = 5;
  NodesDone = 1;
  NodesFailed = 1;
  JobProcsHeld = 1;
]
[
  Type = "NodeStatus";
  Node = "chunk0";
  NodeStatus = 5; /* "STATUS_DONE" */
  RetryCount = 0;
  JobProcsHeld = 0;
]
[
  Type = "NodeStatus";
  Node = "chunk10";
  NodeStatus = 3; /* "STATUS_SUBMITTED" */
  StatusDetails = "";
  RetryCount = 1;
  JobProcsHeld = 1;
]
[
  Type = "NodeStatus";
  Node = "chunk20";
  NodeStatus = 2; /* "STATUS_PRERUN" */
  RetryCount = 2;
  JobProcsHeld = 0;
]
[
  Type = "NodeStatus";
  Node = "chunk30";
  NodeStatus = 6; /* "STATUS_ERROR" */
  StatusDetails = "POST script failed with status 2";
  RetryCount = 0;
  JobProcsHeld = 0;
]
[
  Type = "NodeStatus";
  Node = "aggregate";
  NodeStatus = 0; /* "STATUS_NOT_READY" */
]
[
  Type = "StatusEnd";
  EndTime = 1796401304; /* "Fri Dec  4 16:21:44 2026" */
]
"""


def write(directory, chunk, photos, transient=0, error=None):
    fields = {"host": "h", "start": chunk.start, "count": chunk.count, "complete": True}
    if error:
        fields["error"] = error
    document = results.new_document(fields)
    document["photos"] = [results.photo(r, r + 1, "u", 1900, 0.5, 1, 1, "L", 1)
                          for r in range(chunk.start, chunk.start + photos)]
    document["failures"] = [results.failure(r, r + 1, "u", "HTTP 503", True)
                            for r in range(chunk.start + photos, chunk.start + photos + transient)]
    results.write(str(directory / chunk.results_name), document)


def test_post_judges_the_chunk_as_missing_does(tmp_path):
    chunk = Chunk(10, 5)
    write(tmp_path, chunk, 5)
    assert dag.post(str(tmp_path), chunk, 0) == dag.POST_DONE
    write(tmp_path, chunk, 3, transient=2)  # exit 3: worth another try
    assert dag.post(str(tmp_path), chunk, 3) == dag.POST_RETRY
    write(tmp_path, chunk, 3)  # interrupted: records left
    assert dag.post(str(tmp_path), chunk, 0) == dag.POST_RETRY
    assert dag.post(str(tmp_path), chunk, dag.RETURN_REMOVED) == dag.POST_FINAL  # condor_rm
    write(tmp_path, chunk, 0, error="manifest.txt: cannot read")
    assert dag.post(str(tmp_path), chunk, 4) == dag.POST_FINAL  # another try ends the same
    (tmp_path / chunk.results_name).write_text("{")
    assert dag.post(str(tmp_path), chunk, 0) == dag.POST_FINAL
    write(tmp_path, chunk, 5)  # a complete file is complete whoever removed the job
    assert dag.post(str(tmp_path), chunk, dag.RETURN_REMOVED) == dag.POST_DONE


def test_pre_defers_a_retry_until_the_backoff_has_passed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chunk = Chunk(0, 5)
    assert dag.pre(".", chunk, 0, 60) == 0  # the first attempt: at once
    assert os.path.exists(chunk.results_name)  # a pending file: the job's input always exists
    (tmp_path / "log").mkdir()
    (tmp_path / chunk.error_name).write_text("first attempt")
    assert dag.pre(".", chunk, 1, 60) == dag.PRE_DEFER  # the results were just written
    assert (tmp_path / chunk.error_name).exists()  # nothing moved while deferred
    past = time.time() - 61
    os.utime(chunk.results_name, (past, past))
    assert dag.pre(".", chunk, 1, 60) == 0
    assert dag.pre(".", chunk, 2, 60) == dag.PRE_DEFER  # the second retry waits twice as long
    assert (tmp_path / (chunk.error_name + ".1")).read_text() == "first attempt"  # kept aside
    assert dag.pre(".", chunk, 3, 0) == 0  # --backoff 0: never waits


def test_the_node_status_file_says_what_dagman_still_runs(tmp_path):
    assert dag.status(str(tmp_path)) is None  # before DAGMan first writes it
    (tmp_path / "photodemo.dag.status").write_text(STATUS)
    status = dag.status(str(tmp_path))
    assert (status.done, status.total, status.failed, status.held) == (1, 5, 1, 1)
    assert status.in_queue == {
        10: (judge.HELD, "node chunk10 submitted, retry 1, its job held (condor_q -hold)"),
        20: (judge.QUEUED, "node chunk20 prerun, retry 2")}


def test_a_node_status_file_larger_than_dagman_writes_is_left_unread(tmp_path, monkeypatch):
    (tmp_path / "photodemo.dag.status").write_text(STATUS)
    monkeypatch.setattr(dag, "MAX_STATUS_BYTES", len(STATUS) - 1)
    assert dag.status(str(tmp_path)) is None
    os.mkfifo(str(tmp_path / "fifo"))
    monkeypatch.setattr(dag, "DAG_FILE", "fifo")
    monkeypatch.setattr(dag, "STATUS_SUFFIX", "")
    assert dag.status(str(tmp_path)) is None  # a FIFO with no writer: refused, never waited on


def test_the_rescue_dag_is_used_only_where_it_reruns_every_chunk_left(tmp_path):
    (tmp_path / "photodemo.dag").write_text("".join(
        "JOB chunk{0} submit.sub\nVARS chunk{0} start=\"{0}\" count=\"10\"\n".format(s)
        for s in (0, 10, 20)) + "FINAL aggregate aggregate.sub\n")
    assert not dag.rescue_covers(str(tmp_path), {10})  # no rescue DAG
    (tmp_path / "photodemo.dag.rescue001").write_text("# Rescue DAG\nDONE chunk0\nDONE chunk20\n")
    assert dag.rescue_covers(str(tmp_path), {10})
    assert not dag.rescue_covers(str(tmp_path), {10, 20})  # chunk20's results went since
    assert not dag.rescue_covers(str(tmp_path), {30})  # not a node of that DAG


def test_the_dag_shares_one_description_and_ends_with_the_page(tmp_path):
    from photodemo.batch import Batch
    chunks = [Chunk(0, 10), Chunk(10, 3)]
    batch = Batch(chunks=chunks, payload="dist/luminance.pex", manifest="manifest.txt",
                  results=str(tmp_path / "out"), workdir=str(tmp_path), options=[], max_retries=2,
                  backoff=30)
    text = dag.describe(batch, "submit.sub")
    assert text.count("JOB chunk") == 2 and "JOB chunk10 submit.sub" in text
    assert 'VARS chunk10 start="10" count="3"' in text
    assert "RETRY chunk10 2 UNLESS-EXIT 2" in text
    assert "SCRIPT DEFER 75 30 PRE chunk10 " in text and " pre out 10 3 $RETRY 30" in text
    assert "SCRIPT POST chunk10 " in text and " post out 10 3 $RETURN" in text
    assert text.rstrip().endswith("FINAL aggregate aggregate.sub")
    assert "CONFIG out/photodemo.dag.config" in text
    assert "NODE_STATUS_FILE out/photodemo.dag.status" in text
