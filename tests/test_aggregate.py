"""./aggregate: merging, deduplication, coverage, bad input, exports and the command line, on real
results files written with luminance.core.results."""

import csv
import io
import json
import os
import re
import subprocess

import pytest

from luminance.core import results
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


def test_files_are_read_highest_chunk_first_and_once_whatever_order_they_are_named_in(tmp_path):
    paths = [write(tmp_path, start, 1) for start in (200, 1000, 0)]
    (tmp_path / "results-0-rerun.json").write_text("")
    for named in ([str(tmp_path), paths[0]], paths[::-1] + [str(tmp_path)]):
        found = aggregate.find_inputs(named)
        assert [os.path.basename(path) for path in found] == ["results-1000.json", "results-200.json",
                                                              "results-0.json", "results-0-rerun.json"]


def test_overlapping_chunks_count_each_record_once_and_warn_naming_the_file(tmp_path, capsys):
    write(tmp_path, 0, 10)
    write(tmp_path, 5, 10)  # records 5..9 again
    code, out, err = run(capsys, "--json", tmp_path)
    assert code == 0
    assert re.search(r"aggregate: warning: .*results-0\.json: 5 records also in another results file "
                     r"\(overlapping chunks\): each counted once, the better entry kept", err)
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
    ("results-10.json", '{"schema": "photodemo-results/1", "job": {"start": 10, "cou',
     "corrupt results file"),
    ("results-20.json", "", "empty results file"),
    ("results-30.json", "\x89PNG\r\n\x1a\n\x00\x00", "not a results file (not UTF-8 text)"),
    ("results-40.json", "<html>Gateway timeout</html>", "corrupt results file"),
    ("results-50.json",
     json.dumps({"schema": "photodemo-results/7", "job": {}, "photos": [], "failures": []}),
     "unknown results schema version 'photodemo-results/7'"),
    ("results-60.json", json.dumps({"schema": "photodemo-results/1", "job": {"start": 60, "count": 10},
                                    "photos": [{"record": 60}], "failures": []}), "photos[0] lacks"),
    ("results-70.json", '{"schema": "photodemo-results/1", "job": ' + json.dumps(job(70, 1)) +
     ', "photos": [{"record": 70, "line": 71, "url": "u", "year": 1900, "luminance": NaN, "width": 1, '
     '"height": 1, "mode": "L", "bytes": 1}], "failures": []}', "1 entry with a luminance outside 0..1"),
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
    *warnings, error = err.splitlines()
    assert error.startswith("aggregate: error: ") and message in error
    # Before it, one warning for each file that could not be read, and nothing else.
    assert len(warnings) == len(os.listdir(str(tmp_path))), err
    assert all(line.startswith("aggregate: warning: ") and "results-0.json: " in line for line in warnings)


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
        aggregate.collect([str(tmp_path)], manifest_records=1150).summary(str(manifest)),
        {"mode": "scatter", "points": []}, "t")


def bitmap(records):
    bits = bytearray((max(records, default=-1) + 8) // 8)
    for record in records:
        bits[record >> 3] |= 1 << (record & 7)
    return bits


def test_missing_ranges():
    assert aggregate.missing_ranges(bitmap([]), 0) == []
    assert aggregate.missing_ranges(bitmap(range(10)), 10) == []
    assert aggregate.missing_ranges(bitmap(list(range(5)) + list(range(10, 30))), 40) == [(5, 10), (30, 40)]
    assert aggregate.missing_ranges(bitmap(range(50)), 40) == []
    assert aggregate.missing_ranges(bitmap([3, 100]), 1 << 28) == [(0, 3), (4, 100), (101, 1 << 28)]
    records = {r for r in range(20000) if r % 7 and r // 1000 != 5}
    expected = []  # the same, one record at a time
    for record in range(20000):
        if record in records:
            continue
        if expected and expected[-1][1] == record:
            expected[-1] = (expected[-1][0], record + 1)
        else:
            expected.append((record, record + 1))
    assert aggregate.missing_ranges(bitmap(records), 20000) == expected


def test_an_interrupted_job_is_named_in_a_warning(tmp_path, capsys):
    write(tmp_path, 0, 10, complete=False)
    code, out, err = run(capsys, tmp_path)
    assert code == 0 and re.search(r"warning: .*results-0\.json: the job was interrupted", err)


def test_an_interrupted_job_whose_entries_cover_its_records_misses_nothing(tmp_path):
    # Completeness is counted from the entries: every record has its photo, so nothing is missing
    # and the file is not listed as short, though the warning still names the interruption.
    write(tmp_path, 0, 10, complete=False)
    summary = aggregate.collect([str(tmp_path)], manifest_records=10).summary()
    assert summary.incomplete == []
    assert summary.coverage.missing_records == 0


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
    assert summary.mode == "density" and sum(row.n for row in summary.years) == summary.known_year
    assert summary.known_year + summary.unknown_year == 3000


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
    document["failures"].append(results.failure(2, 3, "http://x.org/" + evil,
                                                "<script>alert(2)</script>" + evil, False))
    results.write(str(tmp_path / "results-0.json"), document)
    code, out, err = run(capsys, "--title", "</title><script>alert(3)</script>", tmp_path)
    assert code == 0
    for raw in ("</script><script>", "<script>alert", "<b>x</b>", '<img src=x', 'href="javascript:'):
        assert raw not in out, raw
    assert out.count("<script") == 2  # the data block, the plot's script
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
    (tmp_path / "results-30.json").write_text("{")
    write(tmp_path, 10, 10, metric="perceived")
    write(tmp_path, 20, 10, metric="luma")
    code, out, err = run(capsys, tmp_path)
    lines = err.splitlines()
    assert (code, out, len(lines)) == (2, "", 2)
    assert lines[0].startswith("aggregate: warning: ") and "results-30.json: corrupt results file" in lines[0]
    assert lines[1].startswith("aggregate: error: results of mixed metrics")


def test_a_manifest_shorter_than_the_results_is_a_warning(tmp_path, capsys):
    write(tmp_path, 0, 10)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("http://x/a.jpg 1900\n")
    code, out, err = run(capsys, "--manifest", manifest, tmp_path)
    assert code == 0 and "manifest.txt: holds 1 records, but results cover records past it" in err


# -- hostile and broken results files (issue 14) -----------------------------------------------------

def poisoned(directory, start, count, victims, lum=0.99):
    """A results file for START..START+COUNT-1 that also holds photos of the records VICTIMS."""
    document = results.new_document(job(start, count))
    for record in list(victims) + list(range(start, start + count)):
        document["photos"].append(
            results.photo(record, record + 1, URL.format(record), 1999, lum, 1, 1, "L", 1))
    path = os.path.join(str(directory), "results-{}.json".format(start))
    results.write(path, document)
    return path


def test_records_outside_their_jobs_range_never_replace_another_chunks_whatever_the_order(tmp_path, capsys):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    write(good, 0, 10)
    write(good, 10, 10)
    poisoned(bad, 20, 10, victims=range(0, 20))
    tables = []
    for order in ([bad, good], [good, bad]):
        code, out, err = run(capsys, "--csv", *order)
        assert code == 0
        warnings = [line for line in err.splitlines() if "warning" in line]
        assert len(warnings) == 1 and re.search(r"bad/results-20\.json: 20 entries outside the job's records "
                                                r"20-29: left out", warnings[0]), err
        tables.append(out)
    assert tables[0] == tables[1]
    rows = list(csv.DictReader(io.StringIO(tables[0])))
    assert [int(row["record"]) for row in rows] == list(range(30))
    assert all(float(row["luminance"]) < 0.9 for row in rows[:20])


def test_a_file_named_for_another_chunk_than_its_job_is_skipped(tmp_path, capsys):
    write(tmp_path, 0, 10)
    write(tmp_path, 10, 10)
    renamed = poisoned(tmp_path, 0, 30, victims=())  # records 0-29 at 0.99, read first as results-20
    os.replace(renamed, str(tmp_path / "results-20.json"))
    write(tmp_path, 0, 10)
    code, out, err = run(capsys, "--csv", tmp_path)
    assert re.search(r"warning: .*results-20\.json: named for records from 20, "
                     r"but its job starts at record 0; skipped", err)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 20 and all(float(row["luminance"]) < 0.9 for row in rows)


def test_of_two_entries_for_a_record_the_better_is_kept_whatever_the_order(tmp_path, capsys):
    transient = results.new_document(job(0, 2))
    transient["failures"] += [results.failure(0, 1, "u0", "HTTP 503", True),
                              results.failure(1, 2, "u1", "HTTP 404 Not Found", False)]
    permanent = results.new_document(job(0, 2))
    permanent["failures"] += [results.failure(0, 1, "u0", "HTTP 404 Not Found", False),
                              results.failure(1, 2, "u1", "timed out", True)]
    results.write(str(tmp_path / "results-0.json"), transient)
    results.write(str(tmp_path / "results-0-rerun.json"), permanent)
    tables = []
    for order in (["results-0.json", "results-0-rerun.json"], ["results-0-rerun.json", "results-0.json"]):
        code, out, err = run(capsys, "--json", *[tmp_path / name for name in order])
        tables.append(json.loads(out)["failures"])
    assert tables[0] == tables[1] == [results.failure(0, 1, "u0", "HTTP 404 Not Found", False),
                                      results.failure(1, 2, "u1", "HTTP 404 Not Found", False)]


def test_completeness_comes_from_the_entries_not_from_the_files_claims(tmp_path, capsys):
    write(tmp_path, 0, 10)
    short = results.new_document(job(10, 10))  # claims complete, holds 5 of its 10 records
    for record in range(10, 15):
        short["photos"].append(results.photo(record, record + 1, URL.format(record), 1900, 0.5, 1, 1, "L", 1))
    results.write(str(tmp_path / "results-10.json"), short)
    # hides the chunks after it
    huge = results.new_document(dict(job(20, 10 ** 18), records=10 ** 18, rate=None))
    for record in range(20, 30):
        huge["photos"].append(results.photo(record, record + 1, URL.format(record), 1900, 0.5, 1, 1, "L", 1))
    results.write(str(tmp_path / "results-20.json"), huge)
    failed = results.new_document(dict(job(40, 10), complete=False, records=0,
                                       error="manifest.txt: cannot read"))
    results.write(str(tmp_path / "results-40.json"), failed)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join("http://x/{}.jpg 1900\n".format(i) for i in range(60)))
    code, out, err = run(capsys, "--json", "--manifest", manifest, tmp_path)
    assert code == 0
    assert re.search(r"results-10\.json: the file claims a complete job: it accounts for 5 of the 10 records "
                     r"10-19, the rest count as missing", err)
    assert re.search(r"results-40\.json: the job could not run \(manifest.txt: cannot read\): "
                     r"it accounts for 0 of the 10 records 40-49", err)
    summary = json.loads(out)["summary"]
    assert summary["coverage"]["missing"] == [[15, 20], [30, 60]]
    assert summary["coverage"]["missing_records"] == 35
    assert status(err) == "25 photos from 4 files; 0 failed; 4 chunks missing"
    assert [os.path.basename(item["file"]) for item in summary["incomplete"]] == [
        "results-40.json", "results-20.json", "results-10.json"]
    code, out, err = run(capsys, "--manifest", manifest, tmp_path)
    assert "results-10.json: the file claims a complete job: it accounts for 5 of the 10 records" in out


def crafted(name, job_fields=None, photo_fields=None, text=None):
    """A parametrize case: a file NAME holding TEXT, or a results document whose job or first
    photo has these fields."""
    def make(directory):
        path = directory / name
        if text is not None:
            path.write_text(text)
            return
        document = results.new_document(job(50, 1))
        document["job"].update(job_fields or {})
        document["photos"].append(dict(results.photo(50, 51, "u", 1900, 0.5, 1, 1, "L", 1),
                                       **(photo_fields or {})))
        path.write_text(json.dumps(document))
    return pytest.param(make, id=name + ":" + str(text or job_fields or photo_fields)[:30])


@pytest.mark.parametrize("make", [
    crafted("results-50.json", photo_fields={"luminance": 1e308}),
    crafted("results-50.json", photo_fields={"luminance": -1e308}),
    crafted("results-50.json", photo_fields={"year": 10 ** 20}),
    crafted("results-50.json", photo_fields={"record": 10 ** 30}),
    crafted("results-50.json", job_fields={"elapsed": 1e308}),
    crafted("results-50.json", job_fields={"started": 1e300, "ended": -1e300}),
    crafted("results-50.json", job_fields={"started": "9999-12-31T23:59:59-23:59",
                                           "ended": "9999-12-31T23:59:59-23:59"}),
    crafted("results-50.json", job_fields={"count": 10 ** 400, "records": 10 ** 400, "rate": None}),
    crafted("results-50.json",
            text='{"schema": "photodemo-results/1", "job": ' + "[" * 200000 + "]" * 200000 + "}"),
    crafted("results-50.json",
            text='{"schema": "photodemo-results/1", "job": {"start": 5' + "0" * 20000 + "}}"),
    crafted("results-50.json", text=json.dumps(results.new_document(job(50, 1))).replace('"elapsed": 10.0',
                                                                                         '"elapsed": NaN')),
    pytest.param(lambda d: os.mkfifo(str(d / "results-50.json")), id="fifo"),
    pytest.param(lambda d: (d / "results-50.json").symlink_to("/dev/zero"), id="dev-zero"),
    pytest.param(lambda d: (d / "results-50.json").mkdir(), id="directory"),
])
def test_a_crafted_file_beside_good_ones_is_one_warning_and_the_page_and_json_are_written(tmp_path, make):
    write(tmp_path, 0, 10)
    make(tmp_path)
    for options in ([], ["--json"], ["--csv"]):
        proc = subprocess.run([os.path.join(ROOT, "aggregate"), str(tmp_path)] + options,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        warnings = [line for line in proc.stderr.splitlines() if line.startswith("aggregate: warning: ")]
        assert len(warnings) == 1 and "results-50.json: " in warnings[0], proc.stderr
        assert "Traceback" not in proc.stderr
        assert re.match(r"1[01] photos from [12] files", status(proc.stderr))
        if options == ["--json"]:
            table = json.loads(proc.stdout, parse_constant=lambda name: pytest.fail("JSON with " + name))
            assert len(table["photos"]) in (10, 11)
        elif not options:
            assert proc.stdout.rstrip().endswith("</html>")


def test_a_pending_results_file_is_named_as_not_run_yet(tmp_path, capsys):
    write(tmp_path, 0, 10)
    results.write(str(tmp_path / "results-10.json"),
                  results.new_document(results.Job(start=10, count=10, metric="perceived", complete=False)))
    code, out, err = run(capsys, tmp_path)
    assert re.search(r"warning: .*results-10\.json: no job has written it yet: it accounts for 0 of the 10 "
                     r"records 10-19, the rest count as missing", err)
    assert status(err) == "10 photos from 2 files; 0 failed; 1 chunks missing"


def test_csv_cells_a_spreadsheet_would_run_are_defused(tmp_path, capsys):
    starts = ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
    document = results.new_document(job(0, len(starts), host="=cmd|' /C calc'!A0"))
    for record, url in enumerate(starts):
        document["photos"].append(results.photo(record, record + 1, url, 1900, 0.5, 1, 1, "-L", 1))
    document["photos"].append(results.photo(len(starts), 9, "http://ok/a=b.jpg", 1900, 0.5, 1, 1, "L", 1))
    document["job"]["count"] += 1
    results.write(str(tmp_path / "results-0.json"), document)
    code, out, err = run(capsys, "--csv", tmp_path)
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [row["url"] for row in rows] == ["'" + url for url in starts] + ["http://ok/a=b.jpg"]
    assert {row["host"] for row in rows} == {"'=cmd|' /C calc'!A0"} and rows[0]["mode"] == "'-L"
    assert rows[-1]["mode"] == "L" and rows[0]["luminance"] == "0.5"
    assert aggregate.csv_cell("\r=1") == "'\r=1" and aggregate.csv_cell("a=1") == "a=1"
    assert aggregate.csv_cell(-3) == -3 and aggregate.csv_cell(None) is None


def test_photos_and_jobs_are_counted_per_site_as_well_as_per_host(tmp_path, capsys):
    for start, host, site in ((0, "a.ucsd.edu", "UCSD"), (10, "b.ucsd.edu", "UCSD"),
                              (20, "c.wisc.edu", "CHTC"), (30, "laptop", None)):
        document = results.new_document(dict(job(start, 10, host=host), site=site))
        for record in range(start, start + 10 - (start == 20)):
            document["photos"].append(
                results.photo(record, record + 1, URL.format(record), 1900, 0.5, 1, 1, "L", 1))
        if start == 20:
            document["failures"].append(results.failure(29, 30, "u", "HTTP 404", False))
        results.write(str(tmp_path / "results-{}.json".format(start)), document)
    code, out, err = run(capsys, "--json", tmp_path)
    summary = json.loads(out)["summary"]
    assert [(row["site"], row["jobs"], row["photos"], row["failed"]) for row in summary["sites"]] == [
        ("UCSD", 2, 20, 0), ("(unknown site)", 1, 10, 0), ("CHTC", 1, 9, 1)]
    assert summary["run"]["sites"] == 3 and summary["run"]["hosts"] == 4
    code, out, err = run(capsys, tmp_path)
    assert "<th>Site</th>" in out and "<td>UCSD</td>" in out and "<td>CHTC</td>" in out


def test_a_workers_huge_host_site_and_version_texts_reach_the_page_cut(tmp_path, capsys):
    # A worker writes what it likes: 1 MB of host made a page of more than 1 MB (once per table).
    path = write(tmp_path, 0, 10)
    document = results.read(path)
    document["job"].update(host="h" * (1 << 20), site="s" * (1 << 20), payload_version="v" * (1 << 20))
    results.write(path, document)
    code, page, err = run(capsys, tmp_path)
    assert code == 0 and len(page) < 200000
    assert "h" * 199 + "…" in page and "h" * 201 not in page and "v" * 201 not in page
    code, out, err = run(capsys, "--json", tmp_path)
    hosts = json.loads(out)["summary"]["hosts"]
    assert [len(row["host"]) for row in hosts] == [200]
