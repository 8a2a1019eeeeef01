"""The merge's parts (photodemo.merge), below ./aggregate (test_aggregate.py runs them whole):
failure grouping, missing ranges from the record bitmap, per-year statistics, per-host tallies."""

import math

import pytest

from photodemo import merge


@pytest.mark.parametrize("reason, group", [
    ("HTTP 404 (the server said: Not Found)", "HTTP 404"),
    ("OSError: <object at 0x7f3a2b> failed", "OSError: <object at 0x…> failed"),
    ("", "(no reason given)"),
    (None, "None"),
    ("x" * 300, "x" * 200),
])
def test_equal_failures_group_together(reason, group):
    assert merge.reason_group(reason) == group


def bitmap(records, present):
    bits = bytearray((records + 7) // 8)
    for record in present:
        bits[record // 8] |= 1 << (record % 8)
    return bytes(bits)


@pytest.mark.parametrize("present, end, gaps", [
    (range(20), 20, []),
    ([], 20, [(0, 20)]),
    ([0, 1, 2, 5, 6, 19], 20, [(3, 5), (7, 19)]),
    (range(8, 16), 30, [(0, 8), (16, 30)]),  # a bitmap shorter than END: the rest is missing
    (range(20), 12, []),  # past END nothing is missing
])
def test_missing_ranges_from_the_bitmap(present, end, gaps):
    assert merge.missing_ranges(bitmap(20, present), end) == gaps


def test_a_years_statistics():
    stats = merge.YearStats(0.5)
    for lum in (0.2, 0.4, 1.0):
        stats.add(lum)
    row = stats.row(1901)
    mean = (0.2 + 0.4 + 1.0) / 3
    assert row == merge.YearRow(year=1901, n=3, mean=round(mean, 6),
                                sd=round(math.sqrt((0.04 + 0.16 + 1.0) / 3 - mean * mean), 6),
                                min=0.2, max=1.0)
    assert sum(stats.bins) == 3 and stats.bins[-1] == 1  # a luminance of 1.0 lands in the last bin


def test_hosts_most_photos_first_with_their_rate():
    tallies = {"b": merge.Tally(), "a": merge.Tally(), "c": merge.Tally()}
    tallies["a"].add(10, 1, 5.0)
    tallies["b"].add(10, 0, None)
    tallies["c"].add(30, 0, 10.0)
    tallies["c"].add(0, 2, 2.0)
    rows = merge.Tally.rows(tallies)
    assert rows == [merge.TallyRow("c", jobs=2, photos=30, failed=2, elapsed=12.0, rate=2.5),
                    merge.TallyRow("a", jobs=1, photos=10, failed=1, elapsed=5.0, rate=2.0),
                    merge.TallyRow("b", jobs=1, photos=10, failed=0, elapsed=0.0, rate=None)]
    assert rows[0].to_json("host") == {"host": "c", "jobs": 2, "photos": 30, "failed": 2, "elapsed": 12.0,
                                       "rate": 2.5}
