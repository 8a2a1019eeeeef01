"""make demo's local Pelican federation (photodemo.federation), read by the job's own client over HTTPS."""

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from luminance import pelican
from luminance.fetch import Fetcher, FetchError

from photodemo import federation

BODY = bytes(range(256)) * 400
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def env(monkeypatch, tls):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
                 "all_proxy", "ALL_PROXY", "FRONTIER_PROXY", "OSG_SQUID_LOCATION",
                 pelican.FEDERATION_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(federation.CA_VARIABLE, tls.ca)
    return monkeypatch


@pytest.fixture
def served(tmp_path, tls):
    photos = tmp_path / "photos"
    (photos / "series1").mkdir(parents=True)
    (photos / "series1" / "a b.jpg").write_bytes(b"\xff\xd8photo")
    (photos / os.fsdecode(b"caf\xe9.jpg")).write_bytes(BODY)  # a Latin-1 file name
    (photos / "stamp").write_bytes(b"stamp")
    (tmp_path / "secret.txt").write_text("not served")
    with federation.LocalFederation(tls, directory=str(photos)) as running:
        yield running


def _open(tls, url):
    return urllib.request.urlopen(url, context=ssl.create_default_context(cafile=tls.ca))


def test_the_job_reads_an_object_through_discovery_director_and_cache(served):
    base = federation.base_url(served.port)
    assert base == "pelican://127.0.0.1:{}/ospool/uw-shared/public/demo".format(served.port)
    with Fetcher(timeout=5, retries=0) as fetcher:
        assert fetcher.get(base + "/series1/a%20b.jpg").data == b"\xff\xd8photo"
        assert fetcher.get(base + "/series1/a b.jpg").data == b"\xff\xd8photo"
        assert fetcher.get(base + "/caf%E9.jpg").data == BODY  # as make-manifest writes the name
        with pytest.raises(FetchError, match="HTTP 404"):
            fetcher.get(base + "/series1/missing.jpg")
    assert served.discoveries == 1 and served.director_requests == 1


def test_the_discovery_document_names_the_server_as_director(served, tls):
    with _open(tls, served.origin + federation.DISCOVERY) as answer:
        assert json.load(answer) == {"director_endpoint": served.origin}


def test_outside_the_namespace_the_directory_is_served_and_nothing_above_it(served, tls):
    with _open(tls, served.origin + "/stamp") as answer:  # the demo waits on its stamp so
        assert answer.read() == b"stamp"
    cache = served.origin + federation.CACHE_PREFIX + federation.DEFAULT_NAMESPACE
    with pytest.raises(urllib.error.HTTPError) as refused:
        _open(tls, cache + "/../../secret.txt")
    assert refused.value.code == 404


def test_the_demo_federation_runs_as_a_command(tmp_path, tls):
    (tmp_path / "a.jpg").write_bytes(BODY)
    proc = subprocess.Popen([sys.executable, "-m", "photodemo.federation", "--directory", str(tmp_path),
                             "--tls", os.path.dirname(tls.ca)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        line = proc.stdout.readline()  # serving DIR as pelican://127.0.0.1:PORT/NAMESPACE (its CA: ...)
        assert line.endswith("(its CA: {})\n".format(tls.ca))
        base = line.split(" as ", 1)[1].split(" ")[0]
        with Fetcher(timeout=5, retries=0) as fetcher:
            assert fetcher.get(base + "/a.jpg").data == BODY
    finally:
        proc.terminate()
        assert proc.wait(10) == 143 and proc.stderr.read() == "federation: stopped\n"


def test_make_ca_makes_a_ca_that_requests_verifies_the_server_with(tmp_path):
    tls = federation.make_ca(str(tmp_path / "tls"))
    assert federation.make_ca(str(tmp_path / "tls")) == tls  # made once
    context = ssl.create_default_context(cafile=tls.ca)
    with federation.LocalFederation(tls) as running:
        with urllib.request.urlopen(running.origin + federation.DISCOVERY, context=context) as answer:
            assert json.load(answer)["director_endpoint"] == running.origin
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(running.origin + federation.DISCOVERY,
                                   context=ssl.create_default_context())
