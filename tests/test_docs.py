"""docs/results.md against the formats it describes: every field of a results file and every key
of `./aggregate --json` is documented there."""

import json
import os
import re

from luminance import results
from photodemo import aggregate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _documented(name):
    with open(os.path.join(ROOT, "docs", name), encoding="utf-8") as page:
        return set(re.findall(r"`([a-z_]+)`", page.read()))


def _keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def _run(tmp_path):
    for start in (0, 3):
        document = results.new_document(dict(host="worker-{}".format(start), site="UCSD", start=start,
                                             count=3, records=3, metric="perceived", complete=True,
                                             elapsed=1.5, started="2026-11-25T01:02:03+00:00",
                                             ended="2026-11-25T01:02:05+00:00"))
        document["photos"] = [
            results.photo(start, start + 1, "http://x/a.jpg", None, 0.5, 10, 10, "RGB", 100),
            results.photo(start + 1, start + 2, "http://x/b.jpg", 1920, 0.4, 10, 10, "L", 100)]
        document["failures"] = [results.failure(start + 2, start + 3, "http://x/c.jpg", "HTTP 404", False)]
        results.write(str(tmp_path / "results-{}.json".format(start)), document)


def test_every_field_of_a_results_file_is_documented():
    documented = _documented("results.md")
    fields = set(results.Job._fields) | set(results.PHOTO_FIELDS) | set(results.FAILURE_FIELDS)
    assert fields - documented == set()


def test_every_key_of_the_json_export_is_documented(tmp_path, capsys):
    _run(tmp_path)
    assert aggregate.main(["--json", str(tmp_path)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["schema"] == "photodemo-aggregate/1" and exported["summary"]["photos"] == 4
    assert set(_keys(exported)) - _documented("results.md") == set()


def test_every_csv_column_is_documented(tmp_path):
    page = open(os.path.join(ROOT, "docs", "results.md"), encoding="utf-8").read()
    assert "`{}`".format(", ".join(aggregate.TABLE_FIELDS)) in page
