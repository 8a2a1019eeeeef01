"""Fetching over real HTTP on 127.0.0.1: retries, timeouts, limits, proxies."""

import base64
import shutil
import subprocess
import time

import pytest

from httpserver import PhotoServer

from luminance import fetch
from luminance.fetch import Fetcher, FetchError

BODY = bytes(range(256)) * 400


PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                   "FRONTIER_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture
def env(monkeypatch):
    """monkeypatch, with no proxy variable set: each test sets the ones it is about."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def fast(**options):
    options.setdefault("backoff", 0.01)
    return Fetcher(**options)


def test_ok_and_keep_alive(server):
    url = server.add("/a.jpg", BODY)
    fetcher = fast()
    assert fetcher.get(url) == (BODY, "image/jpeg")
    assert fetcher.get(url).data == BODY
    assert server.connections == 1  # the second GET went on the first's connection


def test_404_is_permanent_and_not_retried(server):
    url = server.add("/gone.jpg", status=404)
    with pytest.raises(FetchError) as info:
        fast(retries=3).get(url)
    assert (info.value.reason, info.value.transient) == ("HTTP 404 Not Found", False)
    assert server.hits["/gone.jpg"] == 1


def test_500_then_200_is_retried(server):
    url = server.add("/flaky.jpg", BODY, fail_first=2)
    assert fast(retries=2).get(url).data == BODY
    assert server.hits["/flaky.jpg"] == 3


def test_retry_after_is_honoured(server):
    url = server.add("/busy.jpg", BODY, fail_first=1, fail_status=429, fail_headers={"Retry-After": "1"})
    began = time.monotonic()
    assert fast(retries=1).get(url).data == BODY
    assert time.monotonic() - began >= 1.0


def test_transient_failure_after_all_retries(server):
    url = server.add("/down.jpg", BODY, fail_first=99, fail_status=503)
    with pytest.raises(FetchError) as info:
        fast(retries=2).get(url)
    assert info.value.transient and info.value.reason.startswith("HTTP 503")
    assert "after 3 tries" in info.value.reason and server.hits["/down.jpg"] == 3


def test_connection_dropped_mid_body_is_transient(server):
    url = server.add("/cut.jpg", BODY, fault="drop")
    with pytest.raises(FetchError) as info:
        fast(retries=1).get(url)
    assert info.value.transient and "dropped mid-body" in info.value.reason
    assert server.hits["/cut.jpg"] == 2


def test_slow_server_times_out(server):
    url = server.add("/slow.jpg", BODY, delay=2)
    with pytest.raises(FetchError) as info:
        fast(timeout=0.5, retries=0).get(url)
    assert info.value.transient and "timed out" in info.value.reason


def test_connection_refused_is_transient():
    with pytest.raises(FetchError) as info:
        fast(retries=0).get("http://127.0.0.1:9/a.jpg")
    assert info.value.transient and "refused" in info.value.reason


def test_body_size_limit(server):
    url = server.add("/huge.jpg", BODY)
    with pytest.raises(FetchError, match="over the limit") as info:
        fast(max_bytes=1000).get(url)
    assert not info.value.transient


def test_local_files_and_file_urls(tmp_path):
    path = tmp_path / "a photo.jpg"
    path.write_bytes(BODY)
    assert fast().get(str(path)).data == BODY
    assert fast().get(path.as_uri()).data == BODY
    with pytest.raises(FetchError, match="cannot read") as info:
        fast().get(str(tmp_path / "missing.jpg"))
    assert not info.value.transient


def test_frontier_proxy_is_the_http_proxy_only_when_no_http_proxy():
    assert fetch.frontier_proxies({"FRONTIER_PROXY": "squid.site:3128"}) == {"http": "http://squid.site:3128"}
    assert fetch.frontier_proxies({"FRONTIER_PROXY": "http://a:3128;http://b:3128"}) == {"http": "http://a:3128"}
    assert fetch.frontier_proxies({"FRONTIER_PROXY": "http://a:3128", "http_proxy": "http://p:1"}) == {}
    assert fetch.frontier_proxies({}) == {}


@pytest.mark.parametrize("variable", ["http_proxy", "FRONTIER_PROXY"])
def test_requests_go_through_the_proxy(server, env, variable):
    env.setenv(variable, "http://127.0.0.1:{}".format(server.port))
    server.add("/via-proxy.jpg", BODY)
    assert fast().get("http://photos.example.invalid/via-proxy.jpg").data == BODY
    assert server.proxied == ["http://photos.example.invalid/via-proxy.jpg"]


def test_proxy_credentials_are_sent_to_the_proxy(server, env):
    env.setenv("http_proxy", "http://photo%40lab:s3cret@127.0.0.1:{}".format(server.port))
    server.add("/private.jpg", BODY)
    assert fast().get("http://photos.example.invalid/private.jpg").data == BODY
    assert server.proxy_authorization == ["Basic " + base64.b64encode(b"photo@lab:s3cret").decode()]


@pytest.mark.parametrize("proxy, message", [
    ("socks5://user:secret@127.0.0.1:1080", "unsupported proxy socks5://127.0.0.1:1080"),
    ("http://user:secret@squid.example:99999", "proxy URL .* cannot be parsed"),
])
def test_a_proxy_that_cannot_be_used_is_a_permanent_failure_without_its_password(env, proxy, message):
    env.setenv("http_proxy", proxy)
    with pytest.raises(FetchError, match=message) as info:
        fast().get("http://photos.example.invalid/a.jpg")
    assert not info.value.transient and "secret" not in info.value.reason


def test_no_proxy_is_honoured(server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url = server.add("/direct.jpg", BODY)
    assert fast().get(url).data == BODY and server.proxied == []


def test_redirects_are_followed_to_another_host(server):
    with PhotoServer() as other:
        final = other.add("/moved.jpg", BODY)
        server.add("/old.jpg", status=301, headers={"Location": final})
        server.add("/here.jpg", status=302, headers={"Location": "/old.jpg"})
        assert fast().get(server.url("/here.jpg")).data == BODY
        assert other.hits["/moved.jpg"] == 1


def test_redirect_loop_is_a_permanent_failure(server):
    url = server.add("/loop.jpg", status=302, headers={"Location": "/loop.jpg"})
    with pytest.raises(FetchError, match="redirects") as info:
        fast().get(url)
    assert not info.value.transient


def test_body_without_content_length_is_read_to_the_end(server):
    url = server.add("/raw.jpg", BODY, fault="no-length")
    assert fast().get(url).data == BODY
    with pytest.raises(FetchError, match="over the limit"):
        fast(max_bytes=1000).get(url)


def test_a_chunked_body_is_read_and_its_connection_kept(server):
    url = server.add("/bit.jpg", BODY, fault="chunked")
    fetcher = fast(retries=0)
    assert fetcher.get(url).data == BODY
    assert fetcher.get(url).data == BODY
    assert (server.hits["/bit.jpg"], server.connections) == (2, 1)


def test_a_connection_the_server_closed_while_idle_is_replaced(server):
    url = server.add("/bye.jpg", BODY, fault="close-after")
    fetcher = fast(retries=0)  # not retried: a failure would raise
    for _ in range(5):
        assert fetcher.get(url).data == BODY
    assert server.hits["/bye.jpg"] == 5


def test_non_ascii_urls_are_percent_encoded(server):
    server.add("/caf%C3%A9%20noir.jpg", BODY)
    assert fast().get(server.url("/café noir.jpg")).data == BODY


def test_keep_alive_survives_an_error_response(server):
    fetcher = fast(retries=0)
    server.add("/gone.jpg", status=404)
    url = server.add("/a.jpg", BODY)
    for _ in range(3):
        with pytest.raises(FetchError):
            fetcher.get(server.url("/gone.jpg"))
        assert fetcher.get(url).data == BODY
    assert server.connections == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (certfile, keyfile)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def test_tls_is_verified(certificate, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with PhotoServer(tls=certificate) as https:
        url = https.add("/secure.jpg", BODY)
        with pytest.raises(FetchError, match="TLS verification failed") as info:
            fast().get(url)
        assert not info.value.transient
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate[0])  # a site's own CA, as requests reads it
        assert fast().get(url).data == BODY


@pytest.mark.parametrize("url", ["http://[::1/a.jpg", "http:///a.jpg", "http://127.0.0.1:99999/a.jpg"])
def test_bad_urls_are_permanent_failures(url):
    with pytest.raises(FetchError, match="bad URL") as info:
        fast().get(url)
    assert not info.value.transient


def test_https_goes_through_the_https_proxy_tunnel(certificate, server, env):
    env.setenv("REQUESTS_CA_BUNDLE", certificate[0])
    with PhotoServer(tls=certificate) as https:
        url = https.add("/tunnelled.jpg", BODY)
        env.setenv("https_proxy", server.url(""))
        assert fast().get(url).data == BODY
        assert server.proxied == ["CONNECT 127.0.0.1:{}".format(https.port)]
        assert https.hits["/tunnelled.jpg"] == 1


def test_many_hosts(env):
    # More hosts than the fetcher keeps routes and idle connections for: a host forgotten to
    # make room for others is reached again on a new connection.
    servers = [PhotoServer().start() for _ in range(fetch.MAX_HOSTS + 4)]
    try:
        urls = [s.add("/a.jpg", BODY) for s in servers]
        fetcher = fast(retries=0)
        for url in urls + urls:
            assert fetcher.get(url).data == BODY
    finally:
        for s in servers:
            s.stop()
