"""Fetching over real HTTP on 127.0.0.1: retries, timeouts, limits, proxies."""

import time

import pytest

from luminance import fetch
from luminance.fetch import Fetcher, FetchError

BODY = bytes(range(256)) * 400


def fast(**options):
    options.setdefault("backoff", 0.01)
    return Fetcher(**options)


def test_ok_and_keep_alive(server):
    url = server.add("/a.jpg", BODY)
    fetcher = fast()
    assert fetcher.get(url) == (BODY, "image/jpeg")
    assert fetcher.get(url).data == BODY


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
def test_requests_go_through_the_proxy(server, monkeypatch, variable):
    for name in ("http_proxy", "HTTP_PROXY", "FRONTIER_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:{}".format(server.port))
    server.add("/via-proxy.jpg", BODY)
    assert fast().get("http://photos.example.invalid/via-proxy.jpg").data == BODY
    assert server.proxied == ["http://photos.example.invalid/via-proxy.jpg"]
