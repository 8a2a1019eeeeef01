"""photodemo's benchmarks (`make bench`): they print numbers; no test asserts on timings."""
