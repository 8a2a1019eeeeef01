"""The ClassAd files of a job's sandbox: plain values read, expressions and absent files not."""

import pytest

from luminance import cli
from luminance.core import ads


@pytest.fixture
def ad(tmp_path, monkeypatch):
    def write(variable, text):
        path = tmp_path / variable
        path.write_text(text)
        monkeypatch.setenv(variable, str(path))
    return write


def test_the_first_named_attribute_in_either_case(ad):
    ad(ads.MACHINE_AD, 'Cpus = 1\nglidein_resourcename = "Res"\nGLIDEIN_Site = "UCSD"\n')
    assert ads.value(ads.MACHINE_AD, "Cpus") == "1"
    assert ads.string(ads.MACHINE_AD, "GLIDEIN_Site", "GLIDEIN_ResourceName") == "Res"
    assert ads.string(ads.MACHINE_AD, "GLIDEIN_Site") == "UCSD"


def test_integers_are_positive_plain_numbers(ad):
    ad(ads.JOB_AD, "RequestMemory = ifthenelse(MemoryUsage =!= undefined, 1500, 1024)\n"
                   "RequestCpus = 0\nRequestDisk = 2048\nOwner = \"me\"\n")
    assert ads.integer(ads.JOB_AD, "RequestMemory") is None
    assert ads.integer(ads.JOB_AD, "RequestCpus") is None
    assert ads.integer(ads.JOB_AD, "requestdisk") == 2048
    assert ads.integer(ads.JOB_AD, "Owner") is None
    assert ads.string(ads.JOB_AD, "RequestDisk") is None  # not a string


def test_no_variable_no_file_or_no_attribute_reads_as_absent(ad, tmp_path, monkeypatch):
    monkeypatch.delenv(ads.JOB_AD, raising=False)
    assert ads.value(ads.JOB_AD, "Owner") is None
    monkeypatch.setenv(ads.JOB_AD, str(tmp_path / "missing"))
    assert ads.value(ads.JOB_AD, "Owner") is None
    ad(ads.JOB_AD, "Owner = \"me\"\n")
    assert ads.value(ads.JOB_AD, "Mem") is None


def test_the_job_records_the_workers_site(ad, monkeypatch):
    ad(ads.MACHINE_AD, 'GLIDEIN_Site = "UCSD"\n')
    assert cli._site() == "UCSD"
    ad(ads.MACHINE_AD, 'GLIDEIN_Site = ""\nGLIDEIN_ResourceName = "R"\n')
    assert cli._site() is None
    monkeypatch.delenv(ads.MACHINE_AD)
    assert cli._site() is None
