"""make demo's driver: the cached archive, the HTTP server that always stops, and a small end-to-end run
through the real ./submit --local and ./aggregate."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from luminance.core import results
from photodemo import archive, demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = [os.path.join(ROOT, name) for name in ("submit", "aggregate")]
MISSING = [os.path.basename(path) for path in TOOLS if not os.access(path, os.X_OK)]
needs_tools = pytest.mark.skipif(bool(MISSING), reason="./{} not in this checkout yet".format(
    " and ./".join(MISSING)))


def refused(port):
    """True when nothing listens on 127.0.0.1:PORT any more."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def port_of(text):
    return int(re.search(r"at http://127\.0\.0\.1:(\d+)/", text).group(1))


def test_archive_is_cached_while_count_and_seed_match(tmp_path):
    where = str(tmp_path / "archive")
    assert demo.ensure_archive(where, 2, 1) is True
    marker = os.path.join(where, "series7", "marker")
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    open(marker, "w").close()
    assert demo.ensure_archive(where, 2, 1) is False and os.path.exists(marker)
    assert demo.ensure_archive(where, 3, 1) is True and not os.path.exists(marker)
    assert archive.read_stamp(where)["count"] == 3
    assert demo.ensure_archive(where, 3, 2) is True
    assert archive.read_stamp(where) == {"generator": archive.GENERATOR_VERSION, "count": 3, "seed": 2}


def test_server_serves_the_archive_and_stops_even_on_failure(tmp_path):
    where = str(tmp_path / "archive")
    specs = archive.generate(where, count=2, seed=1, jobs=1)
    log = str(tmp_path / "server.log")
    with pytest.raises(RuntimeError):
        with demo.serve(where, log) as url:
            port = int(url.rsplit(":", 1)[1])
            with urllib.request.urlopen("{}/{}.jpg".format(url, specs[0].path)) as response:
                assert response.read()[:2] == b"\xff\xd8"
            raise RuntimeError("a failing step")
    assert refused(port)


def test_summary_counts_each_record_once_as_aggregate_does(tmp_path):
    for start, years in ((0, (1900, 1950, 1990, None)), (2, (1950, 1990, 2000, None))):  # records 2-3 twice
        document = results.new_document(results.Job(start=start, count=4, records=4, complete=True))
        for offset, year in enumerate(years):
            document["photos"].append(results.photo(start + offset, start + offset + 1, "u", year,
                                                    0.1 * (start + offset + 1), 1, 1, "L", 1))
        results.write(str(tmp_path / "results-{}.json".format(start)), document)
    (tmp_path / "results-9.json").write_text("{")
    assert demo.summarize(str(tmp_path)) == [
        "6 photos analyzed from 2 results files; 0 failed; 1 of unknown year",
        "mean luminance before 1920 0.100 (1 photos), 1920-1979 0.250 (2 photos), from 1980 0.450 (2 photos)"]
    assert demo.summarize(str(tmp_path / "nothing"))[0].startswith("no results to summarize: ")


def test_missing_payload_says_make_payload(tmp_path, capsys):
    code = demo.main(["--count", "2", "--workdir", str(tmp_path), "--payload", str(tmp_path / "no.pex")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `make payload` first" in err
    assert os.listdir(str(tmp_path)) == []  # nothing generated before the check


@pytest.mark.parametrize("option", [["--count", "0"], ["--count", "5577"], ["--chunk", "0"]])
def test_bad_options_exit_2(option, capsys):
    assert demo.main(option) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("demo: error: argument {}: ".format(option[0]))


@pytest.mark.slow
@needs_tools
def test_small_demo_end_to_end(pex, tmp_path, capsys):
    work = tmp_path / "demo"
    args = ["--count", "12", "--chunk", "5", "--workdir", str(work), "--payload", pex]
    assert demo.main(args) == 0
    out = capsys.readouterr().out
    assert "drawn into" in out
    results = sorted(os.listdir(str(work / "results")))
    assert results == ["results-0.json", "results-10.json", "results-5.json"]
    page = (work / "scatter.html").read_text(encoding="utf-8")
    assert "<html" in page.lower() and "127.0.0.1" in page
    assert re.search(r"12 photos analyzed from 3 results files; 0 failed; \d+ of unknown year", out)
    assert "the page: " in out and str(work / "scatter.html") in out
    assert refused(port_of(out))
    assert [name for name in os.listdir(str(work)) if name.endswith(".tmp")] == []

    # Again: the archive is reused, the results are fresh (the port, hence the URLs, changed).
    assert demo.main(args) == 0
    again = capsys.readouterr().out
    assert "(cached; seed 1)" in again and "drawn into" not in again
    assert len(os.listdir(str(work / "results"))) == 3
    assert refused(port_of(again))


@pytest.mark.slow
@needs_tools
def test_sigterm_stops_the_jobs_and_the_server(pex, tmp_path):
    work = tmp_path / "demo"
    demo.ensure_archive(str(work / "archive"), 12, 1)  # cached: the run reaches ./submit at once
    proc = subprocess.Popen([sys.executable, "-m", "photodemo.demo", "--count", "12", "--chunk", "1",
                             "--workdir", str(work), "--payload", pex], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "running ./submit" in line:
            break
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    out = "".join(seen) + rest
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "interrupted" in out
    assert refused(port_of(out))
