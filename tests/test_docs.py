"""The docs against what they describe: every field of a results file and every key of
`./aggregate --json` is documented in docs/results.md, and every relative link and anchor of
README.md and docs/*.md leads somewhere."""

import json
import os
import re

from luminance.core import results
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


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading):
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path):
    with open(path, encoding="utf-8") as page:
        text = re.sub(r"^```.*?^```", "", page.read(), flags=re.MULTILINE | re.DOTALL)
    return {_slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def _pages():
    yield os.path.join(ROOT, "README.md")
    docs = os.path.join(ROOT, "docs")
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            yield os.path.join(docs, name)


def test_every_relative_link_and_anchor_of_the_docs_exists():
    broken = []
    for page in _pages():
        with open(page, encoding="utf-8") as source:
            text = source.read()
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not ours to check offline
            path, _, anchor = target.partition("#")
            linked = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            where = "{}: {}".format(os.path.relpath(page, ROOT), target)
            if not os.path.exists(linked):
                broken.append(where + " (no such file)")
            elif anchor and (not linked.endswith(".md") or anchor not in _anchors(linked)):
                broken.append(where + " (no such heading)")
    assert broken == []
