"""Storage: every file tamis reads or writes, local or remote, goes through here.

A path is a local path, a `file://` URI, or a remote URI (`s3://`, `s3a://`, `gs://`, `hdfs://`, any
scheme fsspec knows). Readers, the stage store, the shard writer, the manifest, `plan` and `audit` use these
functions instead of `open`/`os`/`glob`, so none of them assumes a disk the driver and the executors share.
The layer below: `pyarrow.fs` (engine/storage/filesystems.py). No pyspark here.
"""
from engine.storage.files import (REMOTE_READ_BUFFER, HashingWriter, Info, delete_file, delete_tree, exists, info, isdir, isfile,
                                  listdir, makedirs, open_input_file, open_input_stream, open_output, read_bytes,
                                  sha256, walk_files, write_bytes)
from engine.storage.filesystems import StorageOptions, UnsupportedScheme, configure, current, local_path
from engine.storage.listing import fixed_prefix, glob, has_magic
from engine.storage.problems import describe, reachable_problem
from engine.storage.uri import (basename, dirname, is_bucket_root, is_remote, is_uri, is_within, join, normalize,
                                scheme, split)

__all__ = [
    "REMOTE_READ_BUFFER", "HashingWriter", "Info", "StorageOptions", "UnsupportedScheme", "basename", "configure", "current",
    "delete_file", "delete_tree", "describe", "dirname", "exists", "fixed_prefix", "glob", "has_magic", "info",
    "is_bucket_root", "is_remote", "is_uri", "is_within", "isdir", "isfile", "join", "listdir", "local_path",
    "makedirs", "normalize", "open_input_file", "open_input_stream", "open_output", "reachable_problem",
    "read_bytes", "scheme", "sha256", "split", "walk_files", "write_bytes",
]
