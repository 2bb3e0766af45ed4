"""The cluster secret's file and folder (engine/spark/cluster_auth.py), without starting a cluster: only the owner
can read or swap the secret, and a driver gets it from the file, never from its command line.
(tests/test_cluster.py runs the real attack against a real `tamis cluster up`.)"""
from __future__ import annotations

import json
import os
import stat

import pytest

from engine.spark.cluster import ClusterError, up
from engine.spark.cluster_auth import auth_conf_for, secure_state_dir, use_auth_conf, write_auth_conf


def test_secret_file_is_owner_only_even_with_open_umask(tmp_path):
    old = os.umask(0)
    try:
        secure_state_dir(str(tmp_path / "st"))
        path = write_auth_conf(str(tmp_path / "st"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "st").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = open(path).read().splitlines()
    assert lines[0] == "spark.authenticate true" and len(lines[1].split()[1]) == 64
    assert write_auth_conf(str(tmp_path / "st")) and open(path).read() != "\n".join(lines) + "\n"   # fresh per start


def test_planted_symlink_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    os.symlink(victim, tmp_path / "spark-auth.conf")
    path = write_auth_conf(str(tmp_path))
    assert victim.read_text() == "keep me\n" and not os.path.islink(path)


def test_state_dir_that_is_a_symlink_is_refused_before_anything_starts(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    with pytest.raises(ClusterError, match="must be a folder owned by this user"):
        up(workers=1, state_dir=str(tmp_path / "link"))
    assert os.listdir(tmp_path / "real") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_state_dir_owned_by_another_user_is_refused(tmp_path):
    import pwd

    d = tmp_path / "theirs"
    d.mkdir(mode=0o777)
    os.chown(d, pwd.getpwnam("nobody").pw_uid, -1)
    with pytest.raises(ClusterError, match="owned by this user"):
        up(workers=1, state_dir=str(d))
    assert os.listdir(d) == []


def test_driver_gets_the_secret_file_only_for_the_recorded_master(tmp_path, monkeypatch):
    conf = write_auth_conf(str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"master_url": "spark://127.0.0.1:7123", "auth_file": conf}))
    monkeypatch.setenv("TAMIS_CLUSTER_DIR", str(tmp_path))
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    assert auth_conf_for("spark://127.0.0.1:9999") is None
    assert use_auth_conf("spark://127.0.0.1:9999") is None and "PYSPARK_SUBMIT_ARGS" not in os.environ
    assert use_auth_conf("spark://127.0.0.1:7123") == conf
    args = os.environ["PYSPARK_SUBMIT_ARGS"]
    secret = open(conf).read().split()[-1]
    # the JVM's command line names the file, not the secret; pyspark-shell stays last
    assert args == f"--properties-file {conf} pyspark-shell" and secret not in args
