"""Objects of a Pelican federation (osdf://, pelican://) through a real local federation on 127.0.0.1."""

import json
import os
import subprocess
import sys
import threading

import pytest

from httpserver import LocalFederation, PhotoServer
from photodemo.images import jpeg

from luminance import pelican, results
from luminance.fetch import Fetcher, FetchError

BODY = bytes(range(256)) * 400
PUBLIC = "/ospool/uw-shared/public/demo"


def fast(**options):
    options.setdefault("backoff", 0.01)
    return Fetcher(**options)


@pytest.fixture
def federation():
    with LocalFederation() as running:
        yield running


@pytest.fixture
def env(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                 "no_proxy", "NO_PROXY", "FRONTIER_PROXY", "OSG_SQUID_LOCATION", pelican.FEDERATION_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("url, federation, path", [
    ("osdf:///ospool/uw-shared/public/a.jpg", "https://osg-htc.org", "/ospool/uw-shared/public/a.jpg"),
    ("osdf://ospool/uw-shared/public/a.jpg", "https://osg-htc.org", "/ospool/uw-shared/public/a.jpg"),
    ("stash:///ospool/a%20b.jpg", "https://osg-htc.org", "/ospool/a b.jpg"),
    ("pelican://fed.example.org/ns//x.jpg", "https://fed.example.org", "/ns/x.jpg"),
    ("pelican://127.0.0.1:8443/ns/x.jpg", "http://127.0.0.1:8443", "/ns/x.jpg"),
])
def test_urls(url, federation, path):
    assert pelican.parse(url, {}) == (federation, path)


def test_the_osdf_federation_can_be_overridden_for_tests():
    assert pelican.parse("osdf:///ns/x.jpg", {pelican.FEDERATION_VARIABLE: "127.0.0.1:9"}).federation == \
        "http://127.0.0.1:9"


@pytest.mark.parametrize("url", ["pelican:///ns/x.jpg", "osdf:///", "osdf:///ns/../../etc/passwd", "osdf:///a%00b"])
def test_bad_urls(url):
    with pytest.raises(FetchError, match="bad URL") as info:
        fast().get(url)
    assert not info.value.transient


def test_link_and_namespace_headers():
    assert pelican.parse_links('<https://b:8443/x>; rel="duplicate"; pri=2; depth=2, '
                               '<https://a:8443/x>; rel="duplicate"; pri=1; depth=2, <https://c/x>') == \
        ["https://a:8443/x", "https://b:8443/x", "https://c/x"]
    assert pelican.parse_namespace("namespace=/ospool/ap40, require-token=true, collections-url=https://o") == \
        {"namespace": "/ospool/ap40", "require-token": "true", "collections-url": "https://o"}


def test_an_object_comes_from_the_first_cache(federation):
    url = federation.add(PUBLIC + "/a.jpg", BODY)
    with fast() as fetcher:
        assert fetcher.get(url).data == BODY
    assert federation.caches[0].hits == {PUBLIC + "/a.jpg": 1} and federation.caches[1].hits == {}


def test_the_director_is_asked_once_per_namespace(federation):
    urls = [federation.add("{}/{}.jpg".format(PUBLIC, n), BODY) for n in range(20)]
    with fast() as fetcher:
        threads = [threading.Thread(target=lambda u=u: fetcher.get(u)) for u in urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(fetcher.get(url).data == BODY for url in urls)
    assert federation.director_requests() == 1
    assert federation.director.hits["/.well-known/pelican-configuration"] == 1  # discovery: once
    assert sum(federation.caches[0].hits.values()) == 40


def test_osdf_urls_through_the_federation_named_by_the_environment(federation, env):
    federation.add(PUBLIC + "/a.jpg", BODY)
    env.setenv(pelican.FEDERATION_VARIABLE, federation.host)
    with fast() as fetcher:
        assert fetcher.get("osdf:///" + PUBLIC.lstrip("/") + "/a.jpg").data == BODY
        assert fetcher.get("osdf://" + PUBLIC.lstrip("/") + "/a.jpg").data == BODY


@pytest.mark.parametrize("fault", ["down", "503", "drop", "slow"])
def test_a_failing_cache_passes_to_the_next_before_a_retry(federation, fault):
    url = federation.add(PUBLIC + "/a.jpg", BODY)
    first = federation.caches[0]
    if fault == "down":
        first.stop()
    else:
        first.add(PUBLIC + "/a.jpg", BODY, **{"503": {"fail_first": 99, "fail_status": 503},
                                              "drop": {"fault": "drop"}, "slow": {"delay": 3}}[fault])
    # No retry is left, and a backoff would take 100 s: the second cache must serve at once.
    with fast(retries=0, backoff=100, timeout=1) as fetcher:
        assert fetcher.get(url).data == BODY
    assert federation.caches[1].hits[PUBLIC + "/a.jpg"] == 1


def test_when_every_cache_fails_the_director_is_asked_again(federation):
    url = federation.add(PUBLIC + "/a.jpg", BODY, fail_first=1, fail_status=503)
    with fast(retries=0) as fetcher:
        with pytest.raises(FetchError, match="HTTP 503") as info:
            fetcher.get(url)
        assert info.value.transient
        assert fetcher.get(url).data == BODY  # the caches recovered; asked of the director anew
    assert federation.director_requests() == 2


def test_the_director_404_is_permanent_and_names_the_object(federation):
    url = "pelican://{}/ospool/elsewhere/a.jpg".format(federation.host)
    with pytest.raises(FetchError) as info:
        fast(retries=3).get(url)
    assert info.value.reason == ("not found in the federation: /ospool/elsewhere/a.jpg "
                                 "(its director answered HTTP 404 Not Found)")
    assert not info.value.transient and federation.director_requests() == 1


def test_a_private_namespace_says_what_to_do():
    with LocalFederation(namespaces=(), private=("/ospool/ap40",)) as federation:
        url = federation.add("/ospool/ap40/data/me/a.jpg", BODY)
        with pytest.raises(FetchError, match="requires a token") as info:
            fast().get(url)
        assert "./submit --transfer-osdf" in info.value.reason and not info.value.transient
        assert sum(sum(cache.hits.values()) for cache in federation.caches) == 0


def test_transferred_objects_are_read_from_the_sandbox_never_from_the_federation(tmp_path):
    with LocalFederation(namespaces=(), private=("/ospool/ap40",)) as federation:
        url = federation.add("/ospool/ap40/data/me/a.jpg", BODY)
        (tmp_path / "a.jpg").write_bytes(BODY[::-1])  # what HTCondor's osdf plugin put there
        with fast(sandbox=str(tmp_path)) as fetcher:
            assert fetcher.get(url).data == BODY[::-1]
            assert fetcher.get("osdf://ospool/ap40/data/me/a.jpg").data == BODY[::-1]
            with pytest.raises(FetchError) as info:
                fetcher.get(federation.add("/ospool/ap40/data/me/b.jpg", BODY))
            assert info.value.reason == ("not in the job's sandbox as b.jpg (./submit --transfer-osdf "
                                         "has HTCondor transfer it there)")
            assert not info.value.transient
            with pytest.raises(FetchError, match="HTCondor cannot have transferred it: only letters"):
                fetcher.get("osdf:///ospool/ap40/data/me/a%20b.jpg")
        assert federation.director_requests() == 0
        assert sum(sum(cache.hits.values()) for cache in federation.caches) == 0


def test_a_cache_that_refuses_with_403_is_a_private_namespace(federation):
    url = federation.add(PUBLIC + "/a.jpg", status=403)
    with pytest.raises(FetchError, match="requires a token") as info:
        fast().get(url)
    assert not info.value.transient


def test_discovery_down_is_transient_and_retried():
    with PhotoServer() as server:
        server.add("/.well-known/pelican-configuration", fail_first=99, fail_status=503)
        url = "pelican://127.0.0.1:{}/ns/a.jpg".format(server.port)
        with pytest.raises(FetchError, match="federation discovery at .* failed: HTTP 503") as info:
            fast(retries=2).get(url)
        assert info.value.transient and server.hits["/.well-known/pelican-configuration"] == 3


def test_discovery_without_a_director_is_permanent():
    with PhotoServer() as server:
        server.add("/.well-known/pelican-configuration", json.dumps({"jwks_uri": "x"}).encode())
        with pytest.raises(FetchError, match="names no director") as info:
            fast().get("pelican://127.0.0.1:{}/ns/a.jpg".format(server.port))
        assert not info.value.transient


def test_a_redirect_loop_fails(federation):
    path = PUBLIC + "/loop.jpg"
    federation.add(path, status=307, headers={"Location": federation.caches[0].url(path)})
    with pytest.raises(FetchError, match="more than 10 redirects") as info:
        fast().get("pelican://{}{}".format(federation.host, path))
    assert not info.value.transient


def test_a_director_redirect_to_another_scheme_is_refused():
    with PhotoServer() as director:
        director.add("/.well-known/pelican-configuration",
                     json.dumps({"director_endpoint": director.url("")}).encode())
        director.add("/ns/a.jpg", status=307, headers={"Location": "ftp://cache.example/ns/a.jpg"})
        with pytest.raises(FetchError, match="redirect to ftp://cache.example/ns/a.jpg refused") as info:
            fast().get("pelican://127.0.0.1:{}/ns/a.jpg".format(director.port))
        assert not info.value.transient


def test_the_site_squid_is_never_used_for_a_federation(federation, env):
    with PhotoServer() as squid:
        env.setenv("OSG_SQUID_LOCATION", "127.0.0.1:{}".format(squid.port))
        url = federation.add(PUBLIC + "/a.jpg", BODY)
        assert fast().get(url).data == BODY
        assert squid.proxied == []


def test_the_pex_reads_osdf_urls_as_htcondor_runs_it(pex, federation, tmp_path):
    photos = {"a.jpg": jpeg(40, 30, seed=1), "b.jpg": jpeg(30, 40, seed=2)}
    with PhotoServer() as plain:
        lines_http, lines_osdf = [], []
        for name, data in photos.items():
            plain.add("/" + name, data)
            federation.add("{}/{}".format(PUBLIC, name), data)
            lines_http.append("{} 1900".format(plain.url("/" + name)))
            lines_osdf.append("osdf://{}/{} 1900".format(PUBLIC, name))  # the two-slash form too
        values = {}
        for kind, lines in (("http", lines_http), ("osdf", lines_osdf)):
            manifest = tmp_path / "manifest-{}.txt".format(kind)
            manifest.write_text("\n".join(lines) + "\n")
            proc = subprocess.run(
                ["env", "-i", "PEX_ROOT=.pex", "{}={}".format(pelican.FEDERATION_VARIABLE, federation.host),
                 pex, "results-{}.json".format(kind), "0", "2", "--manifest", str(manifest)],
                cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            assert proc.returncode == 0, proc.stderr
            document = results.read(os.path.join(str(tmp_path), "results-{}.json".format(kind)))
            values[kind] = [photo["luminance"] for photo in document["photos"]]
    assert len(values["osdf"]) == 2 and values["osdf"] == values["http"]
    assert federation.director_requests() == 1


def test_the_demo_federation_serves_a_directory_as_the_osdf_does(tmp_path):
    from photodemo import federation as demo_federation

    (tmp_path / "series1").mkdir()
    (tmp_path / "series1" / "a b.jpg").write_bytes(BODY)
    (tmp_path / "stamp").write_bytes(b"stamp")
    server = demo_federation.make_server(str(tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = demo_federation.base_url(server.server_address[1])
        with fast() as fetcher:
            assert fetcher.get(base + "/series1/a b.jpg").data == BODY
            assert fetcher.get(base + "/series1/a%20b.jpg").data == BODY
            with pytest.raises(FetchError, match="HTTP 404"):
                fetcher.get(base + "/series1/missing.jpg")
            # Outside the namespace, the plain files (the demo checks its stamp so).
            assert fetcher.get("http://127.0.0.1:{}/stamp".format(server.server_address[1])).data == b"stamp"
    finally:
        server.shutdown()
        server.server_close()


def test_the_demo_federation_runs_as_a_command(tmp_path):
    (tmp_path / "a.jpg").write_bytes(BODY)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "photodemo.federation", "--directory", str(tmp_path)],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        line = proc.stdout.readline()  # serving DIR as pelican://127.0.0.1:PORT/NAMESPACE
        base = line.split(" as ", 1)[1].strip()
        with fast() as fetcher:
            assert fetcher.get(base + "/a.jpg").data == BODY
    finally:
        proc.terminate()
        assert proc.wait(10) == 143 and proc.stderr.read() == "federation: stopped\n"


def test_a_cache_url_that_is_not_cache_plus_path_is_used_as_given(federation):
    path = PUBLIC + "/a.jpg"
    federation.caches[0].add("/somewhere/else.jpg", BODY)
    federation.director.add(path, status=307, content_type="text/plain", headers={
        "Location": federation.caches[0].url("/somewhere/else.jpg?token=1"),
        "Link": '<{}>; rel="duplicate"; pri=1'.format(federation.caches[0].url("/somewhere/else.jpg?token=1")),
        "X-Pelican-Namespace": "namespace={}, require-token=false".format(PUBLIC)})
    with fast() as fetcher:
        assert fetcher.get("pelican://{}{}".format(federation.host, path)).data == BODY
        assert fetcher.get("pelican://{}{}".format(federation.host, path)).data == BODY
    assert federation.caches[0].hits["/somewhere/else.jpg"] == 2


def test_the_pex_reads_what_htcondor_transferred_and_records_the_urls(pex, tmp_path):
    """A private namespace: the job alone cannot read it; with --transferred (./submit
    --transfer-osdf) it reads the files HTCondor put in its sandbox, and records their URLs."""
    photos = {"a.jpg": jpeg(40, 30, seed=1), "b.jpg": jpeg(30, 40, seed=2)}
    with LocalFederation(namespaces=(), private=("/ospool/ap40",)) as federation, \
            PhotoServer() as plain:
        lines = []
        for name, data in photos.items():
            lines.append("{} 1900".format(plain.add("/" + name, data)))
            lines.append("{} 1901".format(federation.add("/ospool/ap40/data/me/" + name, data)))
            (tmp_path / name).write_bytes(data)
        (tmp_path / "manifest.txt").write_text("\n".join(lines) + "\n")
        os.symlink(pex, str(tmp_path / "luminance.pex"))
        documents = {}
        for run, options in (("alone", []), ("transferred", ["--transferred"])):
            with open(str(tmp_path / "manifest.txt")) as stdin:
                proc = subprocess.run(
                    ["env", "-i", "PEX_ROOT=.pex", "./luminance.pex", "results-{}.json".format(run),
                     "0", "4"] + options, stdin=stdin, cwd=str(tmp_path), stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, universal_newlines=True)
            assert proc.returncode == 0, proc.stderr
            documents[run] = results.read(str(tmp_path / "results-{}.json".format(run)))
        assert federation.director_requests() == 1  # asked by the job alone, never when transferred
    alone, transferred = documents["alone"], documents["transferred"]
    assert [f["record"] for f in alone["failures"]] == [1, 3]
    assert "./submit --transfer-osdf" in alone["failures"][0]["reason"]
    assert transferred["failures"] == []
    by_record = {p["record"]: p for p in transferred["photos"]}
    assert by_record[1]["url"] == "pelican://{}/ospool/ap40/data/me/a.jpg".format(federation.host)
    assert by_record[1]["luminance"] == by_record[0]["luminance"]  # same bytes as over HTTP
    assert by_record[3]["luminance"] == by_record[2]["luminance"]
