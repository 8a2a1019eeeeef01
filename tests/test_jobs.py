"""The job description: chunks cover every record exactly once."""

import pytest

from photodemo import jobs


@pytest.mark.parametrize("records, size, expected", [
    (0, 200, []),
    (1, 200, [(0, 1)]),
    (200, 200, [(0, 200)]),
    (201, 200, [(0, 200), (200, 1)]),
    (5576, 200, [(i, 200) for i in range(0, 5400, 200)] + [(5400, 176)]),
])
def test_plan(records, size, expected):
    chunks = jobs.plan(records, size)
    assert [(c.start, c.count) for c in chunks] == expected
    covered = [r for c in chunks for r in range(c.start, c.stop)]
    assert covered == list(range(records))


def test_names_follow_the_tutorial():
    chunk = jobs.Chunk(400, 200)
    assert chunk.arguments == ["results-400.json", "400", "200"]
    assert (chunk.output_name, chunk.error_name) == ("log/job.output.400", "log/job.error.400")


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError):
        jobs.plan(10, 0)
