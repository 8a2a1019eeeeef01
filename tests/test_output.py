"""The job's printed lines (luminance.core.output): what cli.py prints is what its readers parse."""

from luminance.core import output, results


def test_photo_lines_round_trip_in_the_tutorials_format():
    assert output.photo_line(1901, 0.4567891) == "[1901, 0.456789],"
    assert output.photo_line(None, 0.5) == "[null, 0.500000],"
    assert output.parse_photo_line("[1901, 0.456789],\n") == (1901, 0.456789)
    assert output.parse_photo_line("[null, 0.500000],") == (None, 0.5)
    for other in ("/* Running on host: h */", "[1901, x],", "stdin:3: u: r"):
        assert output.parse_photo_line(other) is None


def test_failure_lines_round_trip():
    entry = results.failure(4, 7, "http://h/a b.jpg", "HTTP 503: Service Unavailable", transient=True)
    line = output.failure_line("stdin", entry)
    assert line == "stdin:7: http://h/a b.jpg: HTTP 503: Service Unavailable (transient)"
    entry = results.failure(4, 7, None, "malformed manifest line: one field", transient=False)
    parsed = output.parse_failure_line(output.failure_line("manifest.txt", entry))
    assert parsed == ("manifest.txt", 7, None, "malformed manifest line: one field", False)


def test_the_footer():
    lines = output.footer(3, 1.5, 2, 1, kept=4)
    assert lines == ["/* 3 photos analyzed in 1.50s (2.00/s) */",
                     "/* 2 records failed: 1 permanently, 1 transiently */",
                     "/* 4 results kept from this job's earlier results file */"]
    assert output.parse_footer(lines[0]) == (3, 1.5, 2.0)
    assert output.footer(0, 0.0, 0, 0) == ["/* 0 photos analyzed in 0.00s (0.00/s) */"]
    assert output.parse_footer(lines[1]) is None
