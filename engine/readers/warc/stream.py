"""The decompressed byte stream of a WARC/ARC/WET file, which keeps going past damage.

Compression is told by magic bytes, not by extension: gzip (one member per record as Common Crawl writes
it, or one stream for the whole file as ClueWeb ships it, gzip EXTRA fields, members that cut records in
odd places), or none. A corrupt gzip member is skipped: the reader looks for the next member header and
carries on; what went wrong travels in the stream as an `Event` for the record parser to report
(`read:bad_gzip`, `read:truncated`, `read:empty_file`, `read:unsupported_compression`).
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Iterator

from engine import storage

CHUNK = 1 << 20              # compressed bytes read at a time
OUT_MAX = 4 << 20            # decompressed bytes produced per step (bounds memory on gzip bombs)
MAX_LINE = 64 << 10          # a header line longer than this is not a header line


@dataclass
class Event:
    kind: str           # "bad_gzip" | "truncated" | "empty_file" | "unsupported_compression"
    offset: int         # offset in the compressed file
    detail: str = ""


def _find_magic(f, start: int) -> int | None:
    """Offset of the next plausible gzip member header at or after `start`, or None."""
    f.seek(start)
    carry = b""
    base = start
    while True:
        block = f.read(CHUNK)
        if not block:
            return None
        data = carry + block
        i = data.find(b"\x1f\x8b\x08")
        while i != -1:
            if i + 10 <= len(data) and data[i + 3] & 0xE0 == 0:   # reserved FLG bits must be zero
                return base + i
            if i + 10 > len(data):
                break
            i = data.find(b"\x1f\x8b\x08", i + 1)
        carry = data[-12:]
        base += len(data) - len(carry)


def file_chunks(path: str) -> Iterator[bytes | Event]:
    """The file's decompressed bytes, as chunks, with Event markers where something went wrong."""
    with _open(path) as f:
        magic = f.read(6)
        if not magic:
            yield Event("empty_file", 0)
            return
        if magic[:2] == b"\x1f\x8b":
            yield from _gzip_chunks(f)
            return
        if magic[:4] == b"\x28\xb5\x2f\xfd" or magic[:3] == b"BZh" or magic[:6] == b"\xfd7zXZ\x00":
            yield Event("unsupported_compression", 0, {b"\x28\xb5": "zstd", b"BZ": "bz2"}.get(magic[:2], "xz"))
            return
        f.seek(0)
        while True:
            block = f.read(CHUNK)
            if not block:
                return
            yield block


def _open(path: str):
    """The file, seekable (the resync after a bad gzip member looks back): a remote one with ranged reads,
    buffered so that small reads (the magic bytes, record headers) cost no request of their own."""
    if not storage.is_remote(path):
        return storage.open_input_stream(path)
    return io.BufferedReader(storage.open_input_file(path), buffer_size=storage.REMOTE_READ_BUFFER)


def _gzip_chunks(f) -> Iterator[bytes | Event]:
    """Decompressed bytes of a gzip file, member after member; a member that fails to decompress is reported
    and decoding resumes at the next plausible member header."""
    f.seek(0)
    pos = 0                  # file offset of pending[0]
    member_start = 0
    fed = False              # bytes of the current member were fed to the decompressor
    d = zlib.decompressobj(31)
    pending = b""
    while True:
        if not pending:
            pending = f.read(CHUNK)
            if not pending:
                if fed:
                    yield Event("truncated", member_start, "gzip member ends before its end")
                return
        if not fed and pending[:1] != b"\x1f":
            # between members: trailing NUL padding is harmless, anything else is garbage
            rest = pending + f.read()
            if rest.strip(b"\x00") == b"":
                return
            nxt = _find_magic(f, pos)
            yield Event("bad_gzip", pos, "garbage between gzip members")
            if nxt is None:
                return
            f.seek(nxt)
            pos = member_start = nxt
            pending = b""
            continue
        try:
            out = d.decompress(pending, OUT_MAX)
        except zlib.error as e:
            yield Event("bad_gzip", member_start, str(e)[:200])
            nxt = _find_magic(f, member_start + 1)
            if nxt is None:
                return
            f.seek(nxt)
            pos = member_start = nxt
            pending, fed, d = b"", False, zlib.decompressobj(31)
            continue
        fed = True
        if out:
            yield out
        if d.eof:
            rest = d.unused_data
            pos += len(pending) - len(rest)
            pending, member_start, fed, d = rest, pos, False, zlib.decompressobj(31)
        else:
            tail = d.unconsumed_tail
            pos += len(pending) - len(tail)
            pending = tail


class Stream:
    """A read/readline interface over file_chunks. An Event stops the data; it waits in `event`
    until the parser takes it, after which reading goes on (after a bad gzip member, from the next one)."""

    def __init__(self, chunks: Iterator[bytes | Event]):
        self._it = chunks
        self._buf = bytearray()
        self._pos = 0
        self.offset = 0            # uncompressed bytes consumed so far
        self.event: Event | None = None
        self._held: Event | None = None   # an event behind bytes put back with `unread`
        self._done = False

    def _fill(self) -> bool:
        if self._held is not None:         # the bytes put back are read: now the event shows
            self.event, self._held = self._held, None
            return False
        if self.event is not None or self._done:
            return False
        try:
            item = next(self._it)
        except StopIteration:
            self._done = True
            return False
        if isinstance(item, Event):
            self.event = item
            return False
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += item
        return True

    def take_event(self) -> Event | None:
        ev, self.event = self.event, None
        return ev

    def readline(self, limit: int = MAX_LINE) -> bytes:
        while True:
            i = self._buf.find(b"\n", self._pos, self._pos + limit)
            if i != -1:
                return self._take(i + 1 - self._pos)
            if len(self._buf) - self._pos >= limit or not self._fill():
                return self._take(min(limit, len(self._buf) - self._pos))

    def read(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n and self._fill():
            pass
        return self._take(min(n, len(self._buf) - self._pos))

    def skip(self, n: int) -> int:
        skipped = 0
        while skipped < n:
            avail = len(self._buf) - self._pos
            if not avail and not self._fill():
                break
            k = min(n - skipped, len(self._buf) - self._pos)
            self._pos += k
            self.offset += k
            skipped += k
        return skipped

    def unread(self, data: bytes) -> None:
        """Put `data` back in front of what is left to read (a peek, or a resync on a record header)."""
        if len(data) <= self._pos:   # over bytes already consumed: no copy of the (up to 4 MB) buffer
            self._buf[self._pos - len(data):self._pos] = data
            self._pos -= len(data)
        else:
            self._buf, self._pos = bytearray(data) + self._buf[self._pos:], 0
        self.offset -= len(data)
        if self.event is not None:   # the parser sees an event only once the bytes before it are read
            self._held, self.event = self.event, None

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        self.offset += n
        return out
