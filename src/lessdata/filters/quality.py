"""Quality heuristics for code and prose: per-document values, thresholds, and failure reasons.

These are plain functions, not registry metrics: a heuristic has no "higher = harder"
direction, only a band ``[min, max]`` that a document must lie in. The flow is

    values = quality_values(texts, kind="code")          # one float64 array per rule
    rules = rules_for("code", {"max_max_line_length": 2000})
    failed = failed_rule(values, rules)                   # -1, or the first rule failed
    reasons = failure_reasons(values, rules)              # "quality: max_line_length > 2000"

Code rules (:data:`CODE_RULES`) follow the filters of Codex (Chen et al. 2021, "Evaluating
Large Language Models Trained on Code", section 3.1: files with a line over 1000 characters,
a mean line length over 100, less than 25% alphanumeric characters or an auto-generated
marker were dropped) and the BigCode filters behind SantaCoder and StarCoder (Allal et al.
2023; Li et al. 2023, "StarCoder: may the source be with you!"): the same line-length and
alphanumeric bounds, a comment-ratio band, and The Stack's 1 MB cap on file size.

``comment_fraction`` has no lower bound by default. The BigCode filter used for SantaCoder
kept files with a comment ratio in [0.01, 0.8], but it judged whole files; lessdata also
scores single functions, and a short, clear function with no comment is good code that a
lower bound would drop. The upper bound still catches text that is mostly comments
(licence headers, commented-out code). Pass ``{"min_comment_fraction": 0.01}`` for the
BigCode band. (BigCode divides by all characters; here the denominator is the
non-whitespace characters, so indentation does not dilute the ratio.)

Prose rules (:data:`PROSE_RULES`) are Gopher's quality and repetition filters (Rae et al.
2021, "Scaling Language Models: Methods, Analysis & Insights from Training Gopher",
appendix A.1.1, Table A1). Definitions and simplifications:

- words are whitespace-separated tokens; n-grams are taken over the lowercased words;
  "characters" of an n-gram are the characters of its words (spaces not counted), and
  fractions are over the characters of all words;
- ``top_<n>gram_fraction``: the characters covered by every occurrence of the most
  frequent n-gram (overlapping occurrences counted once); 0 when no n-gram occurs twice.
  Ties go to the n-gram with the most characters;
- ``duplicate_<n>gram_fraction``: the characters covered by n-grams that repeat an earlier
  n-gram of the document (the first occurrence is not counted; overlaps counted once);
- lines are the non-empty lines, compared after stripping surrounding whitespace;
  paragraphs are separated by blank lines; ``duplicate_line_char_fraction`` is the
  characters of lines that repeat an earlier line over all characters of the document;
- ``symbol_ratio`` is the larger of the '#' count and the ellipsis ('...' or '…') count,
  each per word, so that one bound of 0.1 applies to each symbol as in Gopher;
- ``stop_word_count`` counts the distinct Gopher stop words (the, be, to, of, and, that,
  have, with) in the document, punctuation stripped from the word ends.
"""

from __future__ import annotations

import ast
import math
import re
import string
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.errors import LessdataError
from lessdata.progress import track

KINDS = ("code", "prose")
#: above this many documents, quality_values draws a progress bar
PROGRESS_MIN = 10_000
#: Arrow texts are turned into Python strings this many at a time
BATCH = 4096


@dataclass(frozen=True)
class Rule:
    """A per-document quality value and its allowed band: a document fails when the value is
    below ``min`` or above ``max`` (a bound of None is switched off)."""

    name: str
    min: float | None
    max: float | None
    summary: str

    def violated(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the documents whose value lies outside ``[min, max]``."""
        values = np.asarray(values, dtype=np.float64)
        bad = np.zeros(values.shape, dtype=bool)
        if self.min is not None:
            bad |= values < self.min
        if self.max is not None:
            bad |= values > self.max
        return bad


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.name: rule for rule in rules}


CODE_RULES: dict[str, Rule] = _rules(
    Rule("size_bytes", 1, 1_000_000, "UTF-8 size in bytes (empty files and files over 1 MB)"),
    Rule("max_line_length", None, 1000, "characters in the longest line"),
    Rule("mean_line_length", None, 100, "mean characters per line"),
    Rule("alphanum_fraction", 0.25, None, "fraction of characters that are letters or digits"),
    Rule(
        "comment_fraction",
        None,
        0.8,
        "non-whitespace characters in comments and docstrings over all non-whitespace ones",
    ),
    Rule("autogenerated", None, 0.5, "1 when the header says the file is auto-generated"),
)

PROSE_RULES: dict[str, Rule] = _rules(
    Rule("word_count", 50, 100_000, "whitespace-separated words"),
    Rule("mean_word_length", 3, 10, "mean characters per word"),
    Rule("symbol_ratio", None, 0.1, "'#' or ellipsis count per word, the larger of the two"),
    Rule("bullet_line_fraction", None, 0.9, "fraction of lines that start with a bullet"),
    Rule("ellipsis_line_fraction", None, 0.3, "fraction of lines that end with an ellipsis"),
    Rule("alpha_word_fraction", 0.8, None, "fraction of words with at least one letter"),
    Rule("stop_word_count", 2, None, "distinct English stop words (the, be, to, of, ...)"),
    Rule("duplicate_line_fraction", None, 0.30, "lines that repeat an earlier line / lines"),
    Rule(
        "duplicate_paragraph_fraction",
        None,
        0.30,
        "paragraphs that repeat an earlier one / paragraphs",
    ),
    Rule(
        "duplicate_line_char_fraction",
        None,
        0.20,
        "characters in lines that repeat an earlier line / characters",
    ),
    Rule(
        "duplicate_paragraph_char_fraction",
        None,
        0.20,
        "characters in repeated paragraphs / characters",
    ),
    *(
        Rule(f"top_{n}gram_fraction", None, bound, f"word characters in the top {n}-gram")
        for n, bound in ((2, 0.20), (3, 0.18), (4, 0.16))
    ),
    *(
        Rule(
            f"duplicate_{n}gram_fraction",
            None,
            round(0.15 - 0.01 * (n - 5), 2),
            f"word characters in repeated {n}-grams",
        )
        for n in range(5, 11)
    ),
)

#: lowercase phrases that mark a file as generated, looked for in its first 5 lines
AUTOGENERATED_MARKERS = (
    "auto-generated",
    "autogenerated",
    "automatically generated",
    "generated automatically",
    "generated by",
    "do not edit",
)
AUTOGENERATED_LINES = 5
AUTOGENERATED_CHARS = 1000

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("•", "-", "*", "‣", "◦", "●", "·")
TOP_NGRAMS = (2, 3, 4)
DUPLICATE_NGRAMS = tuple(range(5, 11))

# Comment scanners. Strings are matched first, so that comment markers inside them are
# skipped. Python: '#' comments (docstrings come from the syntax tree). Other text: '#',
# '//' and '/* */' comments, and a triple-quoted string alone on its line as a docstring.
_STRINGS = (
    r"""(?P<triple>[rRbBuUfF]{0,2}(?:\"\"\"(?:\\[\s\S]|[^\\])*?\"\"\"|'''(?:\\[\s\S]|[^\\])*?'''))"""
    r"""|(?P<string>[rRbBuUfF]{0,2}(?:"(?:\\[\s\S]|[^"\\\n])*"|'(?:\\[\s\S]|[^'\\\n])*'))"""
)
_PYTHON_COMMENTS = re.compile(_STRINGS + r"|(?P<line>\#[^\n]*)")
_OTHER_COMMENTS = re.compile(
    _STRINGS + r"|(?P<block>/\*[\s\S]*?(?:\*/|\Z))|(?P<line>//[^\n]*|(?:(?<=\s)|^)\#(?!\[)[^\n]*)",
    re.MULTILINE,
)
_WHITESPACE = re.compile(r"\s+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
#: statement fields that hold nested statements (if/for/while/try/with/def/class/match)
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")

# ---------------------------------------------------------------- rules and thresholds


def _check_kind(kind: str) -> dict[str, Rule]:
    if kind not in KINDS:
        raise LessdataError(f"quality kind must be one of {KINDS}, got {kind!r}")
    return CODE_RULES if kind == "code" else PROSE_RULES


def rules_for(kind: str, overrides: Mapping[str, float | None] | None = None) -> dict[str, Rule]:
    """The rules of ``kind`` ("code" or "prose") with some bounds changed.

    ``overrides`` maps ``"min_<rule>"`` / ``"max_<rule>"`` to a new bound, or to None to
    switch that bound off, e.g. ``{"max_max_line_length": 2000, "min_alphanum_fraction":
    None}``. Unknown keys raise :class:`LessdataError` listing the valid ones.

    Example:
        >>> rules_for("code", {"max_max_line_length": 2000})["max_line_length"].max
        2000.0
    """
    rules = dict(_check_kind(kind))
    valid = [f"{side}_{name}" for name in rules for side in ("min", "max")]
    for key, bound in (overrides or {}).items():
        side, _, name = key.partition("_")
        if side not in ("min", "max") or name not in rules:
            raise LessdataError(
                f"unknown {kind} quality threshold {key!r}; valid ones: {', '.join(valid)}"
            )
        rules[name] = replace(rules[name], **{side: _check_bound(key, bound)})
        low, high = rules[name].min, rules[name].max
        if low is not None and high is not None and low > high:
            raise LessdataError(
                f"quality rule {name!r}: min {_fmt(low)} is above max {_fmt(high)}; "
                f"lower min_{name} or raise max_{name}"
            )
    return rules


def _check_bound(key: str, bound: Any) -> float | None:
    """A threshold is a finite number, or None to switch the bound off."""
    if bound is None:
        return None
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
        raise LessdataError(
            f"quality threshold {key} must be a finite number or None (off), got {bound!r}"
        )
    return float(bound)


def failed_rule(values: Mapping[str, np.ndarray], rules: Mapping[str, Rule]) -> np.ndarray:
    """Per document, -1 when it passes every rule, else the index (in ``rules`` order) of the
    first rule it fails; an (n,) int32 array."""
    n = _check_values(values, rules)
    first = np.full(n, -1, dtype=np.int32)
    for index, (name, rule) in enumerate(rules.items()):
        bad = rule.violated(values[name]) & (first < 0)
        first[bad] = index
    return first


def describe_failure(rule: Rule, value: float) -> str:
    """The manifest reason for a document whose ``value`` breaks ``rule``, e.g.
    ``"quality: max_line_length > 1000"`` (or ``"... < min"`` for a lower bound)."""
    if rule.min is not None and value < rule.min:
        return f"quality: {rule.name} < {_fmt(rule.min)}"
    if rule.max is not None and value > rule.max:
        return f"quality: {rule.name} > {_fmt(rule.max)}"
    raise ValueError(f"value {value} does not break rule {rule.name}")


def failure_reasons(
    values: Mapping[str, np.ndarray], rules: Mapping[str, Rule]
) -> list[str | None]:
    """Per document, the reason of the first rule it fails (see :func:`describe_failure`),
    or None when it passes every rule."""
    first = failed_rule(values, rules)
    listed = list(rules.items())
    reasons: list[str | None] = [None] * len(first)
    for row in np.flatnonzero(first >= 0):
        name, rule = listed[first[row]]
        reasons[row] = describe_failure(rule, float(values[name][row]))
    return reasons


def _check_values(values: Mapping[str, np.ndarray], rules: Mapping[str, Rule]) -> int:
    missing = [name for name in rules if name not in values]
    if missing:
        raise LessdataError(
            f"quality values lack {missing}; compute them with quality_values() of the same kind"
        )
    sizes = {len(values[name]) for name in rules}
    if len(sizes) > 1:
        raise LessdataError(f"quality values have different lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 0


def _fmt(bound: float) -> str:
    """1000.0 -> "1000", 0.25 -> "0.25"."""
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


# ---------------------------------------------------------------- per-document values


def quality_values(
    texts: Sequence[str] | pa.Array | pa.ChunkedArray, kind: str = "code"
) -> dict[str, np.ndarray]:
    """Compute every rule's value of ``kind`` for each document.

    Args:
        texts: a sequence of strings, or an Arrow string array / chunked array (no nulls).
        kind: ``"code"`` (:data:`CODE_RULES`) or ``"prose"`` (:data:`PROSE_RULES`).

    Returns:
        ``{rule name: float64 array of length N}``, in rule order.

    Example:
        >>> quality_values(["x = 1\\n"], "code")["max_line_length"]
        array([5.])
    """
    rules = _check_kind(kind)
    measure: Callable[[str], list[float]] = code_values if kind == "code" else prose_values
    n = len(texts)
    out = np.zeros((n, len(rules)), dtype=np.float64)
    docs: Iterator[str] = _iter_texts(texts)
    if n > PROGRESS_MIN:
        docs = track(docs, n, f"quality: {kind}")
    for row, text in enumerate(docs):
        out[row] = measure(text)
    return {name: out[:, i].copy() for i, name in enumerate(rules)}


def _iter_texts(texts: Sequence[str] | pa.Array | pa.ChunkedArray) -> Iterator[str]:
    """Python strings from a sequence or an Arrow array, converting Arrow a batch at a time."""
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        if texts.null_count:
            raise LessdataError("the texts hold nulls; fill or drop them first")
        for start in range(0, len(texts), BATCH):
            yield from texts.slice(start, BATCH).to_pylist()
        return
    for text in texts:
        if not isinstance(text, str):
            raise LessdataError(f"texts must be strings, got {type(text).__name__}")
        yield text


def code_values(text: str) -> list[float]:
    """The :data:`CODE_RULES` values of one source file, in rule order."""
    lines = text.splitlines()
    lengths = [len(line) for line in lines]
    return [
        float(len(text.encode("utf-8"))),
        float(max(lengths, default=0)),
        sum(lengths) / len(lengths) if lengths else 0.0,
        sum(map(str.isalnum, text)) / len(text) if text else 0.0,
        comment_fraction(text),
        float(is_autogenerated(lines)),
    ]


def is_autogenerated(lines: list[str]) -> bool:
    """True when the first 5 lines (at most 1000 characters) hold a generated-file marker."""
    head = "\n".join(lines[:AUTOGENERATED_LINES])[:AUTOGENERATED_CHARS].lower()
    return any(marker in head for marker in AUTOGENERATED_MARKERS)


def comment_fraction(text: str) -> float:
    """Non-whitespace characters in comments and docstrings over all non-whitespace ones.

    Python source (text that parses, dedented if its first line is indented) is read
    exactly: ``#`` comments outside string literals, plus every string literal that stands
    alone as a statement (docstrings and string "comments"), found in the syntax tree.
    Other text gets a regex estimate that knows ``#``, ``//`` and ``/* */`` comments and
    triple-quoted docstrings, skipping markers inside strings. (This gives the same counts
    as ``tokenize`` on Python, which in Python 3.11 is pure Python and alone ran at under
    3k functions/s; the C parser and one regex pass are several times faster.)
    """
    total = _non_space(text)
    if total == 0:
        return 0.0
    parsed = _as_python(text)
    if parsed is None:
        chars = _scan_comments(_OTHER_COMMENTS, text, docstrings=True)
    else:
        tree, source = parsed
        chars = _scan_comments(_PYTHON_COMMENTS, source, docstrings=False)
        chars += _docstring_chars(tree, source)
    return min(chars / total, 1.0)


def _non_space(text: str) -> int:
    """How many characters of ``text`` are not whitespace."""
    return len(_WHITESPACE.sub("", text))


def _as_python(text: str) -> tuple[ast.Module, str] | None:
    """The syntax tree and the (dedented) source when ``text`` parses as Python; else None."""
    source = textwrap.dedent(text) if text[:1] in (" ", "\t") else text
    try:
        return ast.parse(source), source
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _docstring_chars(tree: ast.Module, source: str) -> int:
    """Non-whitespace characters of the string literals that stand alone as statements."""
    spans = list(_bare_strings(tree.body))
    if not spans:
        return 0
    data = source.encode("utf-8")  # ast column offsets count UTF-8 bytes
    line_starts = [0, *(m.end() for m in re.finditer(b"\n", data))]
    chars = 0
    for line, col, end_line, end_col in spans:
        segment = data[line_starts[line - 1] + col : line_starts[end_line - 1] + end_col]
        chars += _non_space(segment.decode("utf-8", errors="replace"))
    return chars


def _bare_strings(body: list[Any]) -> Iterator[tuple[int, int, int, int]]:
    """(line, col, end line, end col) of each string-literal statement, nested ones too."""
    for stmt in body:
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            yield stmt.lineno, stmt.col_offset, stmt.end_lineno or 0, stmt.end_col_offset or 0
        for field in _BODIES:
            nested = getattr(stmt, field, None)
            if nested:
                yield from _bare_strings(nested)


def _scan_comments(pattern: re.Pattern[str], text: str, *, docstrings: bool) -> int:
    """Non-whitespace characters of the comments ``pattern`` finds (strings are skipped;
    with ``docstrings``, a triple-quoted string alone on its line counts as a comment)."""
    chars = 0
    for match in pattern.finditer(text):
        comment = match.lastgroup in ("block", "line")
        docstring = docstrings and match.lastgroup == "triple"
        if comment or (docstring and _alone_on_line(text, *match.span())):
            chars += _non_space(match.group())
    return chars


def _alone_on_line(text: str, start: int, end: int) -> bool:
    """True when only whitespace precedes ``start`` on its line and follows ``end`` on its."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    tail = text[end:] if line_end < 0 else text[end:line_end]
    return not text[line_start:start].strip() and not tail.strip()


def prose_values(text: str) -> list[float]:
    """The :data:`PROSE_RULES` values of one document, in rule order."""
    words = text.split()
    n_words = len(words)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    lowered = [word.lower() for word in words]
    stripped = {word.strip(string.punctuation) for word in lowered}
    per_word = 1.0 / n_words if n_words else 0.0
    ellipses = text.count("...") + text.count("…")
    line_dups, line_dup_chars = _repeats(lines)
    para_dups, para_dup_chars = _repeats(paragraphs)
    n_chars = len(text) or 1
    values = [
        float(n_words),
        sum(map(len, words)) * per_word,
        max(text.count("#"), ellipses) * per_word,
        _share(sum(line.startswith(BULLETS) for line in lines), len(lines)),
        _share(sum(line.endswith(("...", "…")) for line in lines), len(lines)),
        sum(any(c.isalpha() for c in word) for word in words) * per_word,
        float(len(stripped & STOP_WORDS)),
        _share(line_dups, len(lines)),
        _share(para_dups, len(paragraphs)),
        line_dup_chars / n_chars,
        para_dup_chars / n_chars,
    ]
    values.extend(ngram_repetition(lowered, [len(word) for word in words]))
    return values


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _repeats(items: list[str]) -> tuple[int, int]:
    """How many items repeat an earlier item, and their total characters."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def ngram_repetition(words: list[str], lengths: list[int]) -> list[float]:
    """Gopher's n-gram repetition values of one document: the top 2-, 3-, 4-gram character
    fractions, then the duplicate 5- to 10-gram character fractions.

    ``words`` are the (normalised) words and ``lengths`` their character counts. N-grams get
    exact integer ids, built one word longer at a time: the id of an (n+1)-gram is the id of
    the pair (id of its first n words, id of its last word), renumbered with ``np.unique``.
    """
    n_values = len(TOP_NGRAMS) + len(DUPLICATE_NGRAMS)
    size = np.asarray(lengths, dtype=np.float64)
    total = size.sum()
    if len(words) < 2 or total == 0:
        return [0.0] * n_values
    vocab: dict[str, int] = {}
    word_ids = np.fromiter(
        (vocab.setdefault(w, len(vocab)) for w in words), dtype=np.int64, count=len(words)
    )
    out: list[float] = []
    ids = word_ids
    for n in range(2, max(DUPLICATE_NGRAMS) + 1):
        m = len(words) - n + 1
        if m < 1:
            out.extend([0.0] * (n_values - len(out)))
            break
        pairs = ids[:m] * len(vocab) + word_ids[n - 1 : n - 1 + m]
        _, first, ids, counts = np.unique(
            pairs, return_index=True, return_inverse=True, return_counts=True
        )
        ids = ids.reshape(-1)
        if n in TOP_NGRAMS:
            out.append(_top_ngram_fraction(ids, first, counts, size, n) / total)
        elif n in DUPLICATE_NGRAMS:
            repeat = np.ones(m, dtype=bool)
            repeat[first] = False
            out.append(_covered_chars(np.flatnonzero(repeat), n, size) / total)
    return out


def _top_ngram_fraction(
    ids: np.ndarray, first: np.ndarray, counts: np.ndarray, size: np.ndarray, n: int
) -> float:
    """Characters covered by the most frequent n-gram (ties: the longest); 0 if none repeats."""
    best = counts.max()
    if best < 2:
        return 0.0
    candidates = np.flatnonzero(counts == best)
    cumulative = np.concatenate(([0.0], np.cumsum(size)))
    starts = first[candidates]
    chosen = candidates[np.argmax(cumulative[starts + n] - cumulative[starts])]
    return _covered_chars(np.flatnonzero(ids == chosen), n, size)


def _covered_chars(starts: np.ndarray, n: int, size: np.ndarray) -> float:
    """Characters of the words covered by n-grams starting at ``starts`` (overlaps once)."""
    if len(starts) == 0:
        return 0.0
    marks = np.zeros(len(size) + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, starts + n, -1)
    covered = np.cumsum(marks[:-1]) > 0
    return float(size[covered].sum())
