"""Shared fixtures: the real test data folder and one local SparkSession for the whole run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TAMIS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data. Missing data skips locally but fails under CI (CI=true)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"shared test data missing under CI: {p}")
        pytest.skip(f"shared test data not found: {p}")
    return p


@pytest.fixture(autouse=True)
def _fresh_settings():
    """`engine.settings` reads TAMIS_* once per process: a test that sets one (monkeypatch.setenv) sees it."""
    from engine.settings import settings

    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture(scope="session")
def spark():
    from engine.spark.session import get_spark

    s = get_spark("local[2]", app_name="tamis-tests", shuffle_partitions=4)
    yield s
    s.stop()


def _reserve_s3_port() -> int:
    """The test S3 server's port, fixed when the test process starts, and the AWS_* variables that reach it
    set in this process's environment right away: Spark's Python workers inherit the environment the
    shared SparkSession starts with, so they find the server whether it is started before or after."""
    from tests.s3server import _free_port, test_env

    # a test module importing `tests.conftest` runs this file again under that name: same port
    port = int(os.environ.get("TAMIS_TEST_S3_PORT") or _free_port())
    os.environ["TAMIS_TEST_S3_PORT"] = str(port)
    os.environ.update(test_env(port))
    return port


S3_PORT = _reserve_s3_port()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS) on 127.0.0.1 for the whole run (tests/s3server.py), on the port whose
    AWS_* variables this process (and so every Spark worker and subprocess) already has."""
    from tests.s3server import start

    server = start(tmp_path_factory.mktemp("seaweedfs"), s3_port=S3_PORT)
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """This process reaches the test S3 server through the standard AWS variables; storage options reset."""
    from engine.storage import configure
    from engine.storage.filesystems import _filesystem

    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    configure(None)
    _filesystem.cache_clear()
    yield s3_server
    configure(None)
    _filesystem.cache_clear()
