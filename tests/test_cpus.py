"""CPU limits: the smallest of OMP_NUM_THREADS, affinity and the cgroup quota."""

import os

from luminance.core.cpus import available_cpus

AFFINITY = len(os.sched_getaffinity(0))


def test_omp_num_threads_caps_the_cpus(tmp_path):
    assert available_cpus({"OMP_NUM_THREADS": "1"}, str(tmp_path)) == 1
    assert available_cpus({"OMP_NUM_THREADS": "999"}, str(tmp_path)) == AFFINITY
    assert available_cpus({"OMP_NUM_THREADS": "junk"}, str(tmp_path)) == AFFINITY


def test_cgroup_v2_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cpus({}, str(tmp_path)) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus({}, str(tmp_path)) == AFFINITY


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus({}, str(tmp_path)) == 1
