"""./submit's command line: options, the plan, condor_submit_dag, and bad input (one line, exit 2)."""

import json
import os
import stat
import subprocess
import sys

import pytest

from luminance.core import results

from photodemo import submit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FAKE_CONDOR_SUBMIT_DAG = """#!{python}
import os, sys
with open("condor_submit_dag.called", "w") as stream:
    stream.write(repr((sys.argv[1:], os.getcwd(), os.path.isdir("log"), os.path.isfile("submit.sub"))))
print("Submitting job(s).")
print("1 job(s) submitted to cluster 181587.")
sys.exit(int(os.environ.get("FAKE_CONDOR_EXIT", "0")))
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A submit directory: a manifest of 25 records and a stand-in payload."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "luminance.pex").write_bytes(b"#!/bin/sh\n")
    records = "".join("http://127.0.0.1:9/p{}.jpg {}\n".format(n, 1900 + n) for n in range(25))
    (tmp_path / "manifest.txt").write_text("# photos\n\n" + records)
    return tmp_path


@pytest.fixture
def condor(tmp_path, monkeypatch):
    """A stand-in condor_submit_dag first on PATH, recording how it was called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "condor_submit_dag"
    script.write_text(FAKE_CONDOR_SUBMIT_DAG.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", "{}{}{}".format(bin_dir, os.pathsep, os.environ.get("PATH", "")))
    return tmp_path / "condor_submit_dag.called"


def written(directory):
    return sorted(name for name in os.listdir(directory)
                  if name not in ("dist", "manifest.txt", "bin"))


def test_help_explains_every_option_and_the_exit_codes(capsys):
    assert submit.main(["--help"]) == 0
    text = capsys.readouterr().out
    for action in submit.parser()._actions:
        assert action.help, action.option_strings
        if action.dest != "help" and action.default not in (None, False):
            assert "default" in action.help, action.option_strings
    for option in ("--chunk", "--manifest", "--payload", "--results", "--project", "--request-memory",
                   "--request-disk", "--request-cpus", "--max-retries", "--container",
                   "--requirements", "--metric", "--dry-run", "--local", "--missing", "--jobs",
                   "--split", "--workers", "--timeout", "--retries"):
        assert option in text
    assert "exit codes:" in text and "130" in text


def test_condor_submit_dag_is_run_and_relayed(workdir, condor, capsys):
    assert submit.main(["--chunk", "10", "--project", "ConnectTrain"]) == 0
    args, cwd, had_log, had_submit = eval(condor.read_text())
    assert args == ["-batch-name", "photodemo", "-force", "photodemo.dag"]
    assert cwd == str(workdir) and had_log and had_submit
    out = capsys.readouterr().out
    assert "1 job(s) submitted to cluster 181587." in out
    assert "log out if you like; the page will be scatter.html" in out
    assert "./submit --wait" in out and "condor_q -dag" in out
    assert "./submit --missing" in out
    record = json.loads((workdir / "submit.json").read_text())
    assert record == {"format": "photodemo-run/2", "options": ["--chunk", "10", "--project",
                                                               "ConnectTrain"], "dags": [181587]}
    dag = (workdir / "photodemo.dag").read_text().splitlines()
    assert [line for line in dag if line.startswith("VARS")] == [
        'VARS chunk{0} start="{0}" count="{1}"'.format(start, count)
        for start, count in ((0, 10), (10, 10), (20, 5))]
    assert "RETRY chunk20 3 UNLESS-EXIT 2" in dag and "FINAL aggregate aggregate.sub" in dag
    assert any(line.startswith("SCRIPT DEFER 75 300 PRE chunk0 ") for line in dag)


def test_condor_submit_dag_failing_is_reported(workdir, condor, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_CONDOR_EXIT", "1")
    assert submit.main([]) == 4
    assert "condor_submit_dag photodemo.dag failed (exit 1); the DAG is kept" in \
        capsys.readouterr().err


def test_no_condor_submit_names_the_alternatives(workdir, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(workdir / "nowhere"))
    assert submit.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "condor_submit_dag" in err[0]
    assert "--dry-run" in err[0] and "--local" in err[0]
    assert written(workdir) == []


def test_dry_run_prints_the_plan(workdir, capsys):
    assert submit.main(["--dry-run", "--chunk", "10"]) == 0
    out = capsys.readouterr().out
    assert "manifest.txt: 25 records -> 3 jobs: 2 x 10 + 1 x 5 records" in out
    assert "results: results-0.json .. results-20.json in ." in out
    assert "wrote submit.sub, photodemo.dag (3 nodes and the page)" in out
    assert written(workdir) == ["aggregate.sub", "chunks.txt", "log", "photodemo.dag",
                                "photodemo.dag.config", "results-0.json", "results-10.json",
                                "results-20.json", "submit.json", "submit.sub"]
    # pending results: inputs of the jobs


def test_the_retired_stash_is_named_once_with_the_osdf_docs(workdir, capsys):
    (workdir / "stash.txt").write_text("".join(
        "http://stash.osgconnect.net/public/x/p{}.jpg 1900\n".format(n) for n in range(7)))
    assert submit.main(["--dry-run", "--manifest", "stash.txt"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "stash.osgconnect.net" in line]
    assert len(notes) == 1
    assert notes[0].startswith("note: 7 records are on stash.osgconnect.net, the OSG Connect "
                               "storage that was retired")
    assert submit.OSDF_DOCS in notes[0]


def test_pending_results_name_the_runs_metric(workdir):
    assert submit.main(["--dry-run", "--chunk", "10", "--metric", "luma"]) == 0
    assert results.read(str(workdir / "results-20.json"))["job"]["metric"] == "luma"


def test_local_dry_run_writes_nothing(workdir, capsys):
    assert submit.main(["--local", "--dry-run", "--results", "out"]) == 0
    assert "dry run: nothing run" in capsys.readouterr().out
    assert written(workdir) == []


@pytest.mark.parametrize("argv, message", [
    (["--chunk", "0"], "argument --chunk: must be at least 1, got 0"),
    (["--chunk", "-5"], "argument --chunk: must be at least 1, got -5"),
    (["--chunk", "ten"], "argument --chunk: 'ten' is not a whole number"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["--metric", "brightness"], "argument --metric: invalid choice: 'brightness'"),
    (["--timeout", "0"], "argument --timeout: must be more than 0 seconds, got 0"),
    (["--timeout", "soon"], "argument --timeout: not a number of seconds: 'soon'"),
    (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    (["--manifest", "nope.txt"], "nope.txt: cannot read manifest: No such file or directory"),
    (["--manifest", "dist"], "dist: is a directory, not a manifest"),
    (["--manifest", "empty.txt"], "empty.txt: no records"),
    (["--manifest", "comments.txt"], "comments.txt: no records"),
    (["--payload", "missing.pex"], "missing.pex: no payload there; build it with `make payload`"),
    (["--results", "manifest.txt"], "manifest.txt: results directory is not a directory"),
    (["--results", "manifest.txt/sub"], "is not a directory"),
    (["--max-retries", "-1"], "argument --max-retries: must be at least 0"),
    (["--jobs", "0", "--local"], "argument --jobs: must be at least 1"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(workdir, capsys, argv, message):
    (workdir / "empty.txt").write_text("")
    (workdir / "comments.txt").write_text("# nothing\n\n   \n")
    before = written(workdir)
    assert submit.main(["--dry-run"] + argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], captured.err
    assert lines[0].startswith("submit: ")
    assert written(workdir) == before


def test_missing_resubmits_only_what_lacks_a_complete_file(workdir, capsys):
    document = results.new_document({"host": "h", "start": 10, "count": 10, "complete": True})
    document["photos"] = [results.photo(r, r + 3, "u", 1900, 0.5, 1, 1, "L", 1) for r in range(10, 20)]
    results.write(str(workdir / "results-10.json"), document)
    (workdir / "results-20.json").write_text("{")
    assert submit.main(["--dry-run", "--missing", "--chunk", "10"]) == 0
    out = capsys.readouterr().out
    assert ".: 3 chunks: 1 complete, 1 missing, 1 corrupt" in out
    assert "running 2 jobs: 0, 20" in out
    assert (workdir / "chunks.txt").read_text() == "0 10\n20 5\n"
    nodes = [line.split()[1] for line in (workdir / "photodemo.dag").read_text().splitlines()
             if line.startswith("JOB ")]
    assert nodes == ["chunk0", "chunk20"]


def test_missing_with_nothing_left_submits_nothing(workdir, capsys):
    for start, count in ((0, 20), (20, 5)):
        document = results.new_document({"host": "h", "start": start, "count": count, "complete": True})
        document["photos"] = [results.photo(r, r + 3, "u", 1900, 0.5, 1, 1, "L", 1)
                              for r in range(start, start + count)]
        results.write(str(workdir / "results-{}.json".format(start)), document)
    assert submit.main(["--missing", "--chunk", "20"]) == 0  # no condor_submit needed either
    assert "nothing to rerun" in capsys.readouterr().out
    assert not os.path.exists(workdir / "submit.sub")


def test_the_script_runs_from_anywhere_with_the_system_python(workdir, tmp_path):
    link = tmp_path / "submit-link"
    link.symlink_to(os.path.join(ROOT, "submit"))
    proc = subprocess.run([str(link), "--dry-run", "--chunk", "10"], cwd=str(workdir),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env={"PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr
    assert "3 jobs" in proc.stdout and os.path.isfile(workdir / "submit.sub")
    proc = subprocess.run([str(link), "--chunk", "x"], cwd=str(workdir), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 2
    assert proc.stderr == "submit: error: argument --chunk: 'x' is not a whole number (see ./submit --help)\n"


def test_a_payload_cut_short_is_refused_before_any_plan(workdir, pex, capsys):
    # Half of a real pex (a transfer cut short): every job would fail; one line, exit 2.
    with open(pex, "rb") as stream:
        data = stream.read()
    (workdir / "dist" / "luminance.pex").write_bytes(data[:len(data) // 2])
    assert submit.main(["--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and not (workdir / "submit.sub").exists()
    (line,) = err.splitlines()
    assert line.startswith("submit: error: dist/luminance.pex: not a whole payload (")
