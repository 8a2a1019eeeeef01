"""The job's memory, from HTCondor's job ad or machine ad, and what its decoders may share."""

import pytest

from luminance.core import limits


@pytest.fixture(autouse=True)
def no_ads(monkeypatch):
    monkeypatch.delenv("_CONDOR_JOB_AD", raising=False)
    monkeypatch.delenv("_CONDOR_MACHINE_AD", raising=False)


def write_ad(tmp_path, name, text, monkeypatch, variable):
    path = tmp_path / name
    path.write_text(text)
    monkeypatch.setenv(variable, str(path))


def test_request_memory_from_the_job_ad(tmp_path, monkeypatch):
    write_ad(tmp_path, ".job.ad", 'Owner = "me"\nRequestMemory = 3000\nRequestDisk = 10\n',
             monkeypatch, "_CONDOR_JOB_AD")
    write_ad(tmp_path, ".machine.ad", "Memory = 500\n", monkeypatch, "_CONDOR_MACHINE_AD")
    assert limits.job_memory_mb() == 3000


def test_an_expression_falls_back_to_the_slots_memory(tmp_path, monkeypatch):
    # HTCondor's own default request_memory is an expression, not a number.
    write_ad(tmp_path, ".job.ad", "RequestMemory = ifthenelse(MemoryUsage =!= undefined,"
                                  "MAX({MemoryUsage * 3/2,1024}),1024)\n", monkeypatch, "_CONDOR_JOB_AD")
    write_ad(tmp_path, ".machine.ad", "Cpus = 1\nMemory = 2048\n", monkeypatch, "_CONDOR_MACHINE_AD")
    assert limits.job_memory_mb() == 2048


def test_no_ad_or_an_unreadable_one_gives_the_default(tmp_path, monkeypatch):
    assert limits.job_memory_mb() == limits.DEFAULT_MEMORY_MB
    monkeypatch.setenv("_CONDOR_JOB_AD", str(tmp_path / "missing"))
    assert limits.job_memory_mb() == limits.DEFAULT_MEMORY_MB


def test_the_photos_share_all_but_the_base():
    assert limits.photo_budget(1024) == (1024 - limits.BASE_MB) << 20
    assert limits.photo_budget(limits.BASE_MB) == limits.MIN_PHOTOS_MB << 20
