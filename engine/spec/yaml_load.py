"""A spec's YAML, loaded within fixed bounds on size, nodes, aliases and nesting.

Specs are a few KB, but unbounded YAML can cost anything: a few hundred bytes of nested aliases (`b: [*a, *a,
...]`, `c: [*b, *b, ...]`) expand to billions of nodes once anything walks the tree (line index, pydantic), and a
50 MB spec took minutes and GBs to parse. So the text is capped, and composition counts nodes as if aliases were
expanded (an alias adds the size of what it points at), refusing as soon as a bound is passed: nothing ever
walks more than MAX_NODES nodes. The safe loader never constructs Python objects.
"""
from __future__ import annotations

import yaml

MAX_BYTES = 1 << 20          # 1 MB
MAX_NODES = 50_000           # after expanding aliases
MAX_ALIASES = 1_000
MAX_DEPTH = 64


class SpecLimit(yaml.composer.ComposerError):
    """A bound passed: reported like any YAML error (`file:line: (yaml): ...`), so `validate` exits 2."""

    def __init__(self, problem: str, mark=None):
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._nodes = 0              # composed so far, aliases counted at their expanded size
        self._aliases = 0
        self._depth = 0
        self._sizes: dict[str, int] = {}   # anchor -> expanded size of its node
        self._open: set[str] = set()       # anchors whose node is being composed: an alias to one is a cycle

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise SpecLimit(f"recursive YAML alias *{event.anchor}: a spec must be a tree", event.start_mark)
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise SpecLimit(f"too many YAML aliases (more than {MAX_ALIASES:,}); specs may use at most "
                                f"{MAX_ALIASES:,}", event.start_mark)
            self._add(self._sizes.get(event.anchor, 1), event.start_mark, alias=True)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise SpecLimit(f"YAML nested more than {MAX_DEPTH} levels deep; specs may nest at most {MAX_DEPTH}",
                            event.start_mark)
        anchor, before = event.anchor, self._nodes
        if anchor is not None:
            self._open.add(anchor)
        self._add(1, event.start_mark)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self._open.discard(anchor)
            self._sizes[anchor] = self._nodes - before
        self._depth -= 1
        return node

    def _add(self, n: int, mark, alias: bool = False):
        self._nodes += n
        if self._nodes > MAX_NODES:
            why = ("too many YAML aliases (they expand the spec past "
                   if alias else "too many YAML nodes (more than ")
            raise SpecLimit(f"{why}{MAX_NODES:,} nodes); specs may have at most {MAX_NODES:,} nodes"
                            + (", aliases expanded" if alias else ""), mark)


def load_yaml(text: str):
    """(node tree with marks, plain data) of one YAML document; raises yaml.YAMLError (SpecLimit on a bound)."""
    if len(text) > MAX_BYTES:
        raise SpecLimit(f"the spec is {len(text):,} characters; specs may be at most 1 MB ({MAX_BYTES:,} bytes)")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def read_spec_text(path: str) -> str:
    """The spec file's text, reading at most MAX_BYTES + 1 bytes (a FIFO or /dev/zero never exhausts memory)."""
    with open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise SpecLimit(f"the spec is more than {MAX_BYTES:,} bytes; specs may be at most 1 MB ({MAX_BYTES:,} bytes)")
    return raw.decode("utf-8")
