"""Which rules apply to a document's language.

Every heuristic rule (Gopher, C4, FineWeb) was written for English. The document's `lang` column (filled in
by the `language` filter earlier in the chain; null means the filter's `language` parameter, default `en`)
selects:
- word lists (Gopher stop words): applied where the filter has a list for that language; otherwise skipped;
- word-based rules on text written without spaces between words (`UNSEGMENTED_LANGS`): skipped, since
  whitespace tokens there are clauses, not words;
- terminal punctuation (C4 and FineWeb line rules): skipped for languages that do not end sentences with a
  mark (`NO_TERMINAL_PUNCT_LANGS`).
A skipped rule leaves its signal null (null passes) and is named in the filter's `<kind>_skipped` column,
e.g. `stop_words:no_list_for_sw`, so the manifest can count skips.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# Written without spaces between words: whitespace-split "words" are clauses or lines there.
UNSEGMENTED_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "wuu", "yue"})
# Languages whose sentences do not end with a punctuation mark that datatrove's list knows.
NO_TERMINAL_PUNCT_LANGS = frozenset({"th", "lo", "bo"})


def doc_langs(docs: pa.Table, default: str) -> list[str]:
    """The language of every row: the `lang` column where set, else `default`."""
    if "lang" not in docs.column_names:
        return [default] * docs.num_rows
    return pc.fill_null(docs.column("lang"), default).to_pylist()
