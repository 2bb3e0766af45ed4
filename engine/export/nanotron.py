"""nanotron's input: datatrove's tokenized files, `<name>.ds` + `<name>.ds.index` + `<name>.ds.metadata`.

As datatrove's `TokenizedFile` (datatrove/pipeline/tokens/tokenizer.py) writes them and
`DatatroveFileDataset` / `DatatroveFolderDataset` (datatrove/utils/dataset.py, what nanotron loads) read them:

    .ds           token ids back to back, little-endian, `token_size` bytes each (2: uint16, 4: uint32;
                  4 when the vocabulary has more than 65,536 ids)
    .ds.index     the end of every document, in tokens from the start of the file: uint64 each, no header
    .ds.metadata  text: `<tokenizer>|<token_size>`, the token count, the count humanized (`humanize.metric`)

The end-of-text id closes every document (datatrove's `eos_token` post-processor), so it is counted in the
document's tokens and in its end offset. Documents keep the shard's order (tamis' shards are already shuffled
by hash(seed, id), so datatrove's per-file shuffle is not redone).
"""
from __future__ import annotations

import numpy as np

from engine.export.base import FileSet


class NanotronFiles(FileSet):
    suffixes = (".ds", ".ds.index", ".ds.metadata")

    def __init__(self, folder: str, name: str, dtype: np.dtype, tokenizer: str):
        super().__init__(folder, name, dtype, tokenizer)
        self.ds = self.open(".ds")
        self.ends: list[np.ndarray] = []

    def write_batch(self, ids, lengths, doc_ids):
        self.ds.write(ids.tobytes())
        self.ends.append(self.tokens + np.cumsum(lengths, dtype=np.int64))

    def finish(self):
        ends = np.concatenate(self.ends) if self.ends else np.zeros(0, np.int64)
        self.open(".ds.index").write(ends.astype("<u8").tobytes())
        self.open(".ds.metadata").write(metadata_text(self.tokenizer, self.dtype.itemsize, self.tokens).encode())


def metadata_text(tokenizer: str, token_size: int, tokens: int) -> str:
    """datatrove's `TokenizedFile.write_final_metadata` text."""
    import humanize

    return "\n".join([f"{tokenizer}|{token_size}", str(tokens), humanize.metric(tokens, unit="T")])
