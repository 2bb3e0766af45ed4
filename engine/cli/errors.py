"""One line for a runtime failure: the root OSError of an executor's traceback, not 115 lines of stack trace.

An OSError on an executor (disk full, permission denied, read-only file system, a missing file) reaches the
driver wrapped: a PythonException whose message is the worker's Python traceback, or a Py4JJavaError /
SparkException whose message is the JVM's cause chain. The cause a user can act on is the last line of the
OSError family in that text (`OSError: [Errno 28] No space left on device: '/out/shard-00000.parquet'`,
`Caused by: java.io.IOException: No space left on device`): `os_cause` finds it (a pure function of the
text), `failure_line` builds the line the CLI prints and `write_log` keeps the whole traceback in a file.
"""
from __future__ import annotations

import ast
import errno as E
import os
import re
import time
import traceback
from dataclasses import dataclass

LOG_NAME = "tamis-error.log"

# A Python OSError (any subclass) prints as `Name: [Errno N] message[: 'path'[ -> 'path']]`.
_PY = re.compile(r"^\s*(?:[\w.]+\.)?\w+: \[Errno (\d+)\] (.*)$")
_PY_PATH = re.compile(r""": ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?: -> .*)?$""")
# A Java exception line, alone or in the cause chain; its message carries the C library's text of the errno.
_JAVA = re.compile(r"^\s*(?:Caused by: |Suppressed: )?([\w.$]+(?:Exception|Error)): (.*)$")
_JAVA_ERRNOS = (E.ENOSPC, E.EDQUOT, E.EACCES, E.EPERM, E.EROFS, E.ENOENT, E.EFBIG, E.EMFILE, E.ENFILE, E.EIO,
                E.ENOTDIR, E.EISDIR, E.ENAMETOOLONG)
_JAVA_CLASSES = {"java.nio.file.NoSuchFileException": E.ENOENT, "java.io.FileNotFoundException": E.ENOENT,
                 "java.nio.file.AccessDeniedException": E.EACCES}
_JAVA_PATH = re.compile(r"^(?:File )?(?:file:)?(/\S[^(]*?)(?: \(.*\)|: .*| does not exist.*)?$")
_FILE_URI = re.compile(r"\bfile:(?://)?(/[^\s'\",;]+?)\.?(?=[\s'\",;]|$)")   # "writing rows to file:/out/stage."


@dataclass(frozen=True)
class OSCause:
    errno: int
    path: str | None = None

    def __str__(self) -> str:
        msg = os.strerror(self.errno)
        msg = msg[:1].lower() + msg[1:]
        return f"{msg}: {self.path}" if self.path else msg


def _line_cause(line: str) -> OSCause | None:
    m = _PY.match(line)
    if m:
        p = _PY_PATH.search(m.group(2))
        try:
            path = ast.literal_eval(p.group(1)) if p else None
        except (ValueError, SyntaxError):
            path = None
        return OSCause(int(m.group(1)), path)
    m = _JAVA.match(line)
    if not m:
        return None
    cls, msg = m.groups()
    code = _JAVA_CLASSES.get(cls) or next((n for n in _JAVA_ERRNOS if os.strerror(n) in msg), None)
    if code is None:
        return None
    p = _JAVA_PATH.match(msg.strip())
    return OSCause(code, p.group(1) if p else None)


def os_cause(text: str) -> OSCause | None:
    """The root OSError in an exception's text (Python traceback or Java cause chain): the last line of the
    OSError family, named by its errno; its path, else the path of an earlier line with the same errno, else
    the first `file:` path in the text (Spark names the file it was writing). None when there is none."""
    causes = [c for c in map(_line_cause, text.splitlines()) if c]
    if not causes:
        return None
    last = causes[-1]
    if last.path:
        return last
    path = next((c.path for c in reversed(causes) if c.errno == last.errno and c.path), None)
    if path is None:
        m = _FILE_URI.search(text)
        path = m.group(1) if m else None
    return OSCause(last.errno, path)


def exception_text(e: BaseException) -> str:
    """Everything an exception says: its message (which for Spark embeds the executor's traceback) and the
    messages of its causes. A Spark exception's str needs the JVM; once that is gone, its stored fields."""
    parts, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        try:
            msg = str(e)
        except Exception:  # noqa: BLE001 - CapturedException.__str__ asserts a live SparkContext
            msg = f"{getattr(e, '_desc', '')}\n{getattr(e, '_stackTrace', '')}"
        parts.append(f"{type(e).__name__}: {msg}")
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    return "\n".join(parts)


def gist(e: BaseException) -> str:
    """An exception without an OSError at its root, in one line: a Java exception's first line, a Python
    worker's last (the exception it raised), else the message's first line."""
    msg = str(e).split("\n\nJVM stacktrace:\n")[0].strip()   # a captured exception's JVM part, when enabled
    java = getattr(e, "java_exception", None)   # a Py4JJavaError, recognized by its field: the CLI imports no Spark library
    if java is not None:
        try:
            msg = str(java.toString())
        except Exception:  # noqa: BLE001 - the JVM gone: keep str(e)
            pass
    lines = [l for l in msg.splitlines() if l.strip()]
    if "Traceback (most recent call last):" in msg:   # the worker's exception is the traceback's last line
        lines = [l for l in lines if not l.startswith((" ", "\t", "Traceback"))][-1:] or lines
    first = lines[0].strip() if lines else type(e).__name__
    return f"{type(e).__name__}: {first}"[:500]


_UNREADABLE = re.compile(r"(cannot read input \S.*? on host \S+: .*)$")


def unreadable_input(e: BaseException) -> str | None:
    """`cannot read input s3://b/x.warc.gz on host node-7: access denied ...`: an input the driver listed and
    an executor could not open (engine.readers.InputUnreadable), found in the Spark failure's text. The
    user's error (exit 2): storage differs between the hosts, or the file went away."""
    for line in reversed(exception_text(e).splitlines()):
        m = _UNREADABLE.search(line.strip())
        if m:
            return m.group(1)[:1000]
    return None


def failure_line(e: BaseException, progress=None, log: str | None = None) -> str:
    """`no space left on device: /out/shard-00000.parquet (stage write: writing shards; full traceback in
    /work/tamis-error.log)`: the root OSError when there is one, else the gist; the stage `progress`
    (engine.spark.progress.StageProgress) was in; where the traceback is."""
    cause = os_cause(exception_text(e))
    head = unreadable_input(e) or (str(cause) if cause else gist(e))
    where = []
    name, detail = getattr(progress, "name", None), getattr(progress, "detail", "")
    if name and name != "done":
        where.append(f"stage {name}: {detail}" if detail and name != "start" else detail or name)
    where.append(f"full traceback in {log}" if log else "--verbose shows the traceback")
    return f"{head} ({'; '.join(where)})"


def write_log(e: BaseException, work_dir: str, command: str) -> str | None:
    """The full traceback (driver, and the executor's or JVM's inside the message) in `<work dir>/tamis-error.log`.
    None when the work dir cannot take it (it may be the full disk): tamis writes nowhere else."""
    try:
        body = "".join(traceback.format_exception(e))
    except Exception:  # noqa: BLE001 - formatting a Spark exception needs the JVM
        body = exception_text(e)
    stack = getattr(e, "_stackTrace", None)
    if stack and stack not in body:
        body += f"\nJVM stacktrace:\n{stack}\n"
    text = f"tamis {command} failed at {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()})\n\n{body}"
    path = os.path.join(work_dir, LOG_NAME)
    try:
        os.makedirs(work_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path
    except OSError:
        try:
            os.remove(path)   # a log cut short by the full disk: none is better than a partial one
        except OSError:
            pass
        return None


def runtime_failure(command: str, e: BaseException, spec, progress=None) -> str:
    """The one line for `tamis <command>` failing at run time; the full traceback goes to the spec's work dir."""
    from engine.cli.common import log_dir

    return f"{command} failed: {failure_line(e, progress, write_log(e, log_dir(spec), command))}"
