"""./aggregate: merging, deduplication, coverage, bad input, exports and the command line, on real
results files written with luminance.results."""

import csv
import io
import json
import os
import re
import subprocess

import pytest

from luminance import results
from photodemo import aggregate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
URL = "http://archive.example.org/ucpa/series1/apf1-{:05d}r.jpg"


def job(start, count, metric="perceived", host="node1.example.org", complete=True, elapsed=10.0):
    return {"host": host, "start": start, "count": count, "records": count, "metric": metric,
            "manifest": "manifest.txt", "payload_version": "1.0.0", "python": "3.11.7", "pillow": "11.3.0",
            "requests": "2.32.5", "workers": 8, "cpus": 1, "started": "2025-03-05T14:13:00+00:00",
            "ended": "2025-03-05T14:14:00+00:00", "elapsed": elapsed, "rate": count / elapsed,
            "complete": complete}


def year_of(record):
    return None if record % 10 == 9 else 1880 + record % 120


def write(directory, start, count, fail=(), metric="perceived", host="node1.example.org", complete=True,
          year=year_of, url=URL.format):
    """results-START.json with a photo for each record START..START+COUNT-1, except FAIL (failures)."""
    document = results.new_document(job(start, count, metric, host, complete))
    for record in range(start, start + count):
        if record in fail:
            document["failures"].append(results.failure(record, record + 1, url(record), "HTTP 404 Not Found",
                                                        False))
        else:
            document["photos"].append(results.photo(record, record + 1, url(record), year(record),
                                                    0.2 + (record % 50) / 100, 640, 480, "RGB", 50000))
    path = os.path.join(str(directory), "results-{}.json".format(start))
    results.write(path, document)
    return path


def run(capsys, *argv):
    code = aggregate.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def status(err):
    return err.strip().splitlines()[-1]


def test_help_shows_every_default_and_the_exit_codes(capsys):
    assert aggregate.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "  2    usage error" in out
    for action in aggregate.parser()._actions:
        if action.option_strings and action.dest != "help":
            assert "default" in action.help, action.option_strings


def test_merges_every_file_into_one_page_with_a_status_line(tmp_path, capsys):
    for start in (0, 10, 20):
        write(tmp_path, start, 10, fail={12, 25})
    code, out, err = run(capsys, tmp_path)
    assert code == 0
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
    assert status(err) == "28 photos from 3 files; 2 failed; 0 chunks missing"
    assert "warning" not in err


def test_default_input_is_results_files_in_the_current_directory(tmp_path, capsys, monkeypatch):
    write(tmp_path, 0, 5)
    (tmp_path / "notes.json").write_text("not results")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys)
    assert code == 0 and status(err) == "5 photos from 1 files; 0 failed; 0 chunks missing"


def test_files_are_read_in_chunk_order_and_once(tmp_path):
    paths = [write(tmp_path, start, 1) for start in (1000, 200, 0)]
    found = aggregate.find_inputs([str(tmp_path), paths[0]])
    assert [os.path.basename(path) for path in found] == ["results-0.json", "results-200.json",
                                                          "results-1000.json"]


def test_overlapping_chunks_count_each_record_once_and_warn_naming_the_file(tmp_path, capsys):
    write(tmp_path, 0, 10)
    write(tmp_path, 5, 10)  # records 5..9 again
    code, out, err = run(capsys, "--json", tmp_path)
    assert code == 0
    assert re.search(r"aggregate: warning: .*results-5\.json: 5 records already read from another results "
                     r"file \(overlapping chunks\); counted once", err)
    table = json.loads(out)
    assert [row["record"] for row in table["photos"]] == list(range(15))
    assert table["summary"]["duplicates"] == 5 and table["photos"][0]["host"] == "node1.example.org"
    assert status(err) == "15 photos from 2 files; 0 failed; 0 chunks missing"


def test_a_rerun_that_analyzed_a_failed_record_counts_it_as_a_photo(tmp_path, capsys):
    write(tmp_path, 0, 10, fail={3, 4})
    rerun = results.new_document(job(0, 10))
    rerun["photos"].append(results.photo(3, 4, URL.format(3), 1901, 0.5, 10, 10, "L", 100))
    results.write(str(tmp_path / "results-0-rerun.json"), rerun)
    code, out, err = run(capsys, tmp_path / "results-0.json", tmp_path / "results-0-rerun.json", "--json")
    assert code == 0 and json.loads(out)["summary"]["failed"] == 1
    assert status(err) == "9 photos from 2 files; 1 failed; 0 chunks missing"


@pytest.mark.parametrize("name, content, problem", [
    ("results-10.json", '{"schema": "photodemo-results/1", "job": {"start": 10, "cou', "corrupt results file"),
    ("results-20.json", "", "empty results file"),
    ("results-30.json", "\x89PNG\r\n\x1a\n\x00\x00", "not a results file (not UTF-8 text)"),
    ("results-40.json", "<html>Gateway timeout</html>", "corrupt results file"),
    ("results-50.json", json.dumps({"schema": "photodemo-results/7", "job": {}, "photos": [], "failures": []}),
     "unknown results schema version 'photodemo-results/7'"),
    ("results-60.json", json.dumps({"schema": "photodemo-results/1", "job": {"start": 60, "count": 10},
                                    "photos": [{"record": 60}], "failures": []}), "photos[0] lacks"),
    ("results-70.json", '{"schema": "photodemo-results/1", "job": ' + json.dumps(job(70, 1)) +
     ', "photos": [{"record": 70, "line": 71, "url": "u", "year": 1900, "luminance": NaN, "width": 1, '
     '"height": 1, "mode": "L", "bytes": 1}], "failures": []}', "1 entry with a bad record number, year"),
])
def test_a_bad_file_is_a_warning_naming_it_and_the_rest_is_still_plotted(tmp_path, capsys, name, content,
                                                                           problem):
    write(tmp_path, 0, 10)
    (tmp_path / name).write_text(content, encoding="latin-1")
    code, out, err = run(capsys, tmp_path)
    assert code == 0 and "</html>" in out
    warnings = [line for line in err.splitlines() if line.startswith("aggregate: warning: ")]
    assert len(warnings) == 1 and name in warnings[0] and problem in warnings[0], err
    assert status(err).startswith("10 photos from ")


def test_mixed_metrics_are_refused_unless_metric_picks_one(tmp_path, capsys):
    write(tmp_path, 0, 10, metric="perceived")
    write(tmp_path, 10, 10, metric="luma")
    code, out, err = run(capsys, tmp_path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("aggregate: error: results of mixed metrics: ")
    assert "results-0.json holds 'perceived'" in err and "results-10.json holds 'luma'" in err
    assert "--metric" in err

    code, out, err = run(capsys, "--metric", "luma", "--csv", tmp_path)
    assert code == 0
    assert re.search(r"warning: .*results-0\.json: metric 'perceived', not 'luma' \(--metric\); skipped", err)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(row["record"]) for row in rows] == list(range(10, 20))
    # Coverage counts what this metric's results cover: records 0..9 are missing for luma.
    assert status(err) == "10 photos from 1 files; 0 failed; 1 chunks missing"

    code, out, err = run(capsys, "--metric", "relative", tmp_path)
    assert (code, out) == (2, "") and "no results of metric 'relative'" in err


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "no results files (results-*.json) in"),
    (lambda d: (d / "results-0.json").write_text("{"), "none of the 1 results file could be read"),
])
def test_no_results_at_all_is_a_one_line_error_and_nothing_on_stdout(tmp_path, capsys, setup, message):
    setup(tmp_path)
    code, out, err = run(capsys, tmp_path)
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("aggregate: error: ") and message in err.splitlines()[-1]


def test_a_path_that_does_not_exist_is_a_usage_error(tmp_path, capsys):
    code, out, err = run(capsys, tmp_path / "results-0.json")
    assert (code, out) == (2, "")
    assert err == "aggregate: error: {}: no such file or directory\n".format(tmp_path / "results-0.json")


def test_chunks_missing_between_files_and_after_the_last_with_a_manifest(tmp_path, capsys):
    for start in (0, 200, 600):
        write(tmp_path, start, 200)
    code, out, err = run(capsys, "--json", tmp_path)
    coverage = json.loads(out)["summary"]["coverage"]
    assert coverage["missing"] == [[400, 600]] and coverage["chunk"] == 200
    assert status(err).endswith("; 1 chunks missing")

    manifest = tmp_path / "manifest.txt"
    manifest.write_text("# the archive\n" + "".join("http://x/{}.jpg 1900\n".format(i) for i in range(1150)))
    code, out, err = run(capsys, "--json", "--manifest", manifest, tmp_path)
    coverage = json.loads(out)["summary"]["coverage"]
    assert coverage["missing"] == [[400, 600], [800, 1150]] and coverage["records"] == 1150
    assert status(err).endswith("; 3 chunks missing")  # 400-599, then 800-999 and 1000-1149
    assert "results-400.json" in aggregate.page.render(
        aggregate.collect([str(tmp_path)]).summary(1150, str(manifest)), {"mode": "scatter", "points": []}, "t")


def test_missing_ranges():
    assert aggregate.missing_ranges([], 0) == []
    assert aggregate.missing_ranges([(0, 10)], 10) == []
    assert aggregate.missing_ranges([(10, 20), (0, 5), (15, 30)], 40) == [(5, 10), (30, 40)]
    assert aggregate.missing_ranges([(0, 50)], 40) == []


def test_an_interrupted_job_is_named_in_a_warning(tmp_path, capsys):
    write(tmp_path, 0, 10, complete=False)
    code, out, err = run(capsys, tmp_path)
    assert code == 0 and re.search(r"warning: .*results-0\.json: the job was interrupted", err)


def test_csv_export_is_the_merged_photo_table(tmp_path, capsys):
    write(tmp_path, 0, 10, fail={2})
    code, out, err = run(capsys, "--csv", tmp_path)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(results.PHOTO_FIELDS) + ["host"]
    assert len(rows) == 9 and rows[0]["url"] == URL.format(0) and rows[0]["year"] == "1880"
    assert rows[-1]["record"] == "9" and rows[-1]["year"] == ""  # unknown year: an empty cell


def test_json_export_holds_photos_failures_and_summary(tmp_path, capsys):
    write(tmp_path, 0, 10, fail={2}, host="n1")
    write(tmp_path, 10, 10, host="n2")
    code, out, err = run(capsys, "--json", tmp_path)
    table = json.loads(out)
    assert table["schema"] == "photodemo-aggregate/1" and table["metric"] == "perceived"
    assert len(table["photos"]) == 19 and table["photos"][0] == dict(
        results.photo(0, 1, URL.format(0), 1880, 0.2, 640, 480, "RGB", 50000), host="n1")
    assert table["failures"] == [results.failure(2, 3, URL.format(2), "HTTP 404 Not Found", False)]
    summary = table["summary"]
    assert summary["failed"] == 1 and summary["unknown_year"] == 2 and summary["photos"] == 19
    assert summary["failures"][0]["reason"] == "HTTP 404 Not Found" and summary["failures"][0]["count"] == 1
    assert {row["host"]: row["photos"] for row in summary["hosts"]} == {"n1": 9, "n2": 10}
    assert [row["year"] for row in summary["years"]] == sorted(row["year"] for row in summary["years"])


def test_failure_reasons_group_without_their_incidental_details():
    assert aggregate.reason_group("not an image: cannot identify image file <_io.BytesIO object at "
                                  "0x7f3a2c1d>") == "not an image: cannot identify image file <_io.BytesIO " \
                                                    "object at 0x…>"
    assert aggregate.reason_group("HTTP 200 but not an image (the server sent text/html, 512 bytes)") == \
        "HTTP 200 but not an image"


def test_above_max_points_photos_are_not_held_and_the_page_shows_density(tmp_path):
    for start in range(0, 3000, 500):
        write(tmp_path, start, 500)
    merge = aggregate.collect([str(tmp_path)], max_points=1000)
    assert merge.points is None and merge.photos == 3000
    plot = merge.page_data()
    assert plot["mode"] == "density" and sum(cell[2] for cell in plot["cells"]) == 3000
    summary = merge.summary()
    assert summary["mode"] == "density" and sum(row["n"] for row in summary["years"]) == summary["known_year"]
    assert summary["known_year"] + summary["unknown_year"] == 3000


def test_the_tutorials_5576_photos_make_a_page_under_2_mb(tmp_path, capsys):
    long_url = "http://stash.osgconnect.net/@ConnectTrain/photodemo/ucpa/series{}/derivatives_series{}/apf{}-{:05d}r.jpg"
    for start in range(0, 5576, 200):
        write(tmp_path, start, min(200, 5576 - start),
              url=lambda r: long_url.format(r % 7, r % 7, r % 7, r))
    code, out, err = run(capsys, tmp_path)
    assert code == 0 and status(err) == "5576 photos from 28 files; 0 failed; 0 chunks missing"
    assert len(out.encode("utf-8")) < 2 << 20
    assert 'data-mode' not in out  # set by the script at load time, not in the file


def test_untrusted_text_cannot_inject_markup(tmp_path, capsys):
    evil = '</script><script>document.title="pwned"</script>"\'<b>x</b>&amp;\u2028'
    document = results.new_document(job(0, 3, host='<img src=x onerror="alert(1)">'))
    document["photos"].append(results.photo(0, 1, "http://x.org/a.jpg?" + evil, 1900, 0.5, 1, 1, "L", 1))
    document["photos"].append(results.photo(1, 2, "javascript:alert(1)//", 1901, 0.4, 1, 1, "L", 1))
    document["failures"].append(results.failure(2, 3, "http://x.org/" + evil, "<script>alert(2)</script>" + evil,
                                                False))
    results.write(str(tmp_path / "results-0.json"), document)
    code, out, err = run(capsys, "--title", "</title><script>alert(3)</script>", tmp_path)
    assert code == 0
    for raw in ("</script><script>", "<script>alert", "<b>x</b>", '<img src=x', 'href="javascript:'):
        assert raw not in out, raw
    assert out.count("<script") == 3  # the listeners, the data block, the plot's script
    data = re.search(r'<script type="application/json" id="plot-data">(.*?)</script>', out, re.S).group(1)
    assert not set("<>&\u2028\u2029") & set(data)
    assert json.loads(data)["prefix"] + json.loads(data)["u"][0] == "http://x.org/a.jpg?" + evil
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out  # the host, escaped, in the tidbits


def test_the_executable_runs_with_a_bare_python3_from_anywhere(tmp_path):
    write(tmp_path, 0, 4)
    proc = subprocess.run([os.path.join(ROOT, "aggregate"), "--title", "Test"], cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert proc.returncode == 0, proc.stderr
    assert "<title>Test</title>" in proc.stdout
    assert proc.stderr.strip() == "4 photos from 1 files; 0 failed; 0 chunks missing"


def test_a_bug_is_a_traceback_not_swallowed(tmp_path, monkeypatch):
    # Tracebacks are for bugs only: main turns PhotodemoError into one line and nothing else.
    write(tmp_path, 0, 1)
    monkeypatch.setattr(aggregate.page, "render", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        aggregate.main([str(tmp_path)])


def test_warnings_are_printed_as_files_are_read_even_when_an_error_follows(tmp_path, capsys):
    (tmp_path / "results-0.json").write_text("{")
    write(tmp_path, 10, 10, metric="perceived")
    write(tmp_path, 20, 10, metric="luma")
    code, out, err = run(capsys, tmp_path)
    lines = err.splitlines()
    assert (code, out, len(lines)) == (2, "", 2)
    assert lines[0].startswith("aggregate: warning: ") and "results-0.json: corrupt results file" in lines[0]
    assert lines[1].startswith("aggregate: error: results of mixed metrics")


def test_a_manifest_shorter_than_the_results_is_a_warning(tmp_path, capsys):
    write(tmp_path, 0, 10)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("http://x/a.jpg 1900\n")
    code, out, err = run(capsys, "--manifest", manifest, tmp_path)
    assert code == 0 and "manifest.txt: holds 1 records, but results cover records past it" in err
