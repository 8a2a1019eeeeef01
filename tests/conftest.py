"""Shared fixtures: the pex, built once per test process, and a real HTTP server on 127.0.0.1."""

import os
import subprocess
import sys

import pytest

import photodemo  # noqa: F401  (the one bootstrap, as ./submit has it: payload/luminance importable)
from httpserver import PhotoServer  # tests/ is on sys.path: pytest puts a conftest's folder there
from photodemo import federation

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@pytest.fixture(scope="session")
def pex(tmp_path_factory):
    """A luminance.pex for this machine's Python (build.py --platform current), built once per
    test process (make test runs two: see the Makefile)."""
    out = tmp_path_factory.mktemp("pex") / "luminance.pex"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "build.py"), "--platform", "current",
                           "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
    return str(out)


@pytest.fixture
def server():
    """A PhotoServer (tests/httpserver.py) running on 127.0.0.1 for one test."""
    with PhotoServer() as running:
        yield running


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A submit directory holding a stand-in payload (a dry run never executes it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "luminance.pex").write_bytes(b"#!/bin/sh\n")
    return tmp_path


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    """A throwaway CA and a certificate for 127.0.0.1 (photodemo.federation.make_ca), made once."""
    return federation.make_ca(str(tmp_path_factory.mktemp("tls")))
