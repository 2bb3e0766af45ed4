"""WARC record safety: reading a record's block, resynchronising when a WARC Content-Length lies, and
quarantining a record whose conversion raises (the file goes on: `guarded_doc`).

A WARC 1.0/1.1 block is followed by CRLF CRLF and the next record's `WARC/1.x` line, or the end of the
file. A Content-Length that is too long makes the block take in the records after it: the damaged record
would carry their pages, and they would be lost. So after each WARC block the reader peeks at what follows.
When it is not a record start (or the stream ended first) and a `\\nWARC/1.0\\r\\n` / `\\nWARC/1.1\\r\\n` line
lies inside the block (or straddles its end), the record is quarantined as `read:bad_content_length` and
the bytes from that header on are pushed back into the stream and parsed again: the records it swallowed are
read, not lost. With single-stream gzip and multi-member gzip alike, this works on the decompressed stream.

Cost: nothing is searched unless that end check fails, except the parts of blocks that are skipped rather
than read (requests, metadata, the rest of an over-large response), which are scanned as they pass and kept
from the first header line found in them, at most RESYNC_KEEP bytes. A header line that has to be dropped
to stay under that bound is a record lost: one `read:lost_in_overrun` row each.
A Content-Length that is too short is left to the parser's own resync (`read:malformed_header`).
"""
from __future__ import annotations

import re

from engine.readers.quarantine import guarded

HEADER = re.compile(rb"\nWARC/1\.[01]\r\n")
HEADER_LEN = 11              # every match is this long, so a carry of HEADER_LEN - 1 bytes never holds one
RESYNC_KEEP = 32 << 20       # skipped block bytes kept for a resync, at most
PEEK = 64                    # bytes looked at after a block
SCAN_CHUNK = 1 << 20


def read_block(stream, rec, want, bad):
    """Generator helper: read `rec`'s block (what `want` asks for into memory, the rest skipped) and yield
    the record, or, for a damaged one, its `bad(...)` rows. `bad` is records.Bad (passed in: records.py imports
    this module)."""
    n = want(rec.fmt, rec.headers, rec.length)
    window = _Window() if rec.fmt == "warc" else None
    got_head = got_skip = 0
    if n:
        rec.block = stream.read(min(n, rec.length))
        got_head = len(rec.block)
    rest = max(0, rec.length - n) if n and got_head == min(n, rec.length) else (0 if n else rec.length)
    if rest > 0 and window is not None:
        if n:
            window.feed(rec.block)   # a header in the part read makes everything after it worth keeping
        got_skip = _skip_scanning(stream, rest, window)
    elif rest > 0:
        got_skip = stream.skip(rest)
    if n and got_skip:
        rec.skipped_rest = got_skip
    got = got_head + got_skip
    if window is not None:
        held = rec.block if n and not rest else None    # the whole block (as far as it went) is in memory
        replaced = _resync(stream, rec, got, held, window, bad)
        if replaced is not None:
            yield from replaced
            return
    if got < rec.length:
        rec.complete = False
        ev = stream.take_event()
        rec.cut_by = ev.kind if ev else "truncated"
        if rec.block is None:   # not a record we wanted, but the file is damaged here: count it
            yield bad(rec.cut_by, rec.offset, f"{rec.headers.get('warc-type', 'record')} block ends at "
                      f"{got} of {rec.length} bytes", headers=rec.headers)
            return
    yield rec


def _resync(stream, rec, got: int, held: bytes | None, window: "_Window", bad) -> list | None:
    """The rows that replace `rec` when its block overran the next record, after pushing the bytes from that
    record's header back into the stream; None when the block ends where it should (or nothing to resync on)."""
    complete = got == rec.length
    base = stream.offset - got       # stream offset of the block's first byte
    tail = b""
    if complete:
        tail = stream.read(PEEK)
        stream.unread(tail)
        if _ends_well(tail):
            return None
    if held is not None:
        data, start = held, 0
    elif window.start is not None:
        data, start = b"".join(window.parts), window.start
    else:
        data, start = window.carry, got - len(window.carry)
    probe = data + tail[:HEADER_LEN - 1]
    m = HEADER.search(probe)
    lost = window.lost
    if m is None:
        if not lost:
            return None
        if complete:
            lost = lost[:-1]   # the record across the declared end is the parser's `malformed_header`
    else:
        stream.unread(data[m.start() + 1:])   # from the `W` of `WARC/1.x`; what follows is still in the stream
    where = f"a record header at byte {start + m.start() + 1} of the block" if m else "record headers in the block"
    rows = [bad("bad_content_length", rec.offset, f"Content-Length {rec.length} runs past the record's end "
                f"({where}); resynchronised on the next header", headers=rec.headers)]
    rows += [bad("lost_in_overrun", base + p + 1, "a record inside an over-long block, dropped to bound memory")
             for p in lost]
    return rows


def _ends_well(tail: bytes) -> bool:
    """What follows a block is the end of the stream, blank lines, or the next record's `WARC/` line."""
    t = tail.lstrip(b"\r\n")
    return not t or t.startswith(b"WARC/") or b"WARC/".startswith(t)


def _skip_scanning(stream, n: int, window: "_Window") -> int:
    done = 0
    while done < n:
        chunk = stream.read(min(n - done, SCAN_CHUNK))
        if not chunk:
            break
        window.feed(chunk)
        done += len(chunk)
    return done


class _Window:
    """The bytes of a block from the first WARC header line found in them (block positions from `start`),
    at most RESYNC_KEEP; the block positions of header lines dropped to stay under that are in `lost`."""

    def __init__(self):
        self.pos = 0                 # block position of the next byte fed
        self.carry = b""             # the last bytes fed while no header was found (a header may straddle)
        self.start: int | None = None
        self.parts: list[bytes] = []
        self.size = 0
        self.lost: list[int] = []

    def feed(self, data: bytes) -> None:
        if self.start is None:
            joined = self.carry + data
            m = HEADER.search(joined)
            if m is None:
                self.carry = joined[-(HEADER_LEN - 1):]
            else:
                self.start = self.pos - len(self.carry) + m.start()
                self.parts, self.size = [joined[m.start():]], len(joined) - m.start()
        else:
            self.parts.append(data)
            self.size += len(data)
        self.pos += len(data)
        if self.size > RESYNC_KEEP:
            self._drop()

    def _drop(self) -> None:
        # keep from the last header if that fits (the record a resync would start with), else nothing
        kept = b"".join(self.parts)
        heads = [m.start() for m in HEADER.finditer(kept)]
        last = heads[-1]
        if len(kept) - last <= RESYNC_KEEP:
            self.lost += [self.start + h for h in heads[:-1]]
            self.start, self.parts, self.size = self.start + last, [kept[last:]], len(kept) - last
        else:
            self.lost += [self.start + h for h in heads]
            self.start, self.parts, self.size, self.carry = None, [], 0, kept[-(HEADER_LEN - 1):]


def guarded_doc(doc, rec, source, fkey: str) -> dict | None:
    """`doc(rec)`, or the quarantine row of that record alone when converting it raises."""
    key = (rec.headers.get("warc-record-id") or f"{fkey}@{rec.offset}") + ":error"
    return guarded(lambda: doc(rec), source, key, kind="web", warc_file=fkey, offset=rec.offset,
                   record_id=rec.headers.get("warc-record-id"))
