"""Gmail's search syntax (`q` of messages.list), a real subset, parsed and evaluated.

Supported, as the Gmail search box reads them:

- bare words and `"quoted phrases"`, matched as whole words (case-insensitive) in the subject,
  the sender, the recipients, the body and the attachment names;
- `from:` `to:` `cc:` `subject:` `filename:` `rfc822msgid:` (`from:me`/`to:me` is the owner),
  each with a word, a "phrase" or a (group), e.g. `subject:(invoice OR receipt)`;
- `has:attachment` `has:userlabels` `has:nouserlabels`, `is:unread|read|starred|important`,
  `in:inbox|sent|spam|trash|starred|important|anywhere`, `label:`, `category:`;
- `newer_than:`/`older_than:` with `d`, `m` or `y` (`2d`, `6m`, `1y`; a month is 30 days, a year
  365), `after:`/`before:` (also `newer:`/`older:`) with `YYYY/MM/DD`, `YYYY-MM-DD`, `MM/DD/YYYY`
  (midnight Pacific time, as Gmail reads dates) or Unix seconds, `larger:`/`smaller:` (`10K`,
  `2M`, bytes);
- `OR` (or `|`), an explicit `AND`, `-` negation of any term or group, parentheses, and `{a b}`
  (any of). OR binds tighter than the implicit AND: `a b OR c` is `a AND (b OR c)`.

An unknown operator (`foo:bar`) is searched as the words `foo bar`, as Gmail does; a malformed
date or duration, or unbalanced parentheses, is an invalid query (`QueryError`, a 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

MAX_QUERY_LENGTH = 4096
PACIFIC = timezone(timedelta(hours=-8))  # Gmail reads search dates as midnight PST
_WORD = re.compile(r"[^\W_]+")
_DURATION = re.compile(r"^(\d{1,6})([dmy])$")
_SIZE = re.compile(r"^(\d{1,12})([kKmM]?)$")
_DAY = timedelta(days=1)
FIELD_OPERATORS = frozenset({"from", "to", "cc", "bcc", "subject", "filename", "rfc822msgid"})
OPERATORS = FIELD_OPERATORS | {
    "has",
    "is",
    "in",
    "label",
    "category",
    "newer_than",
    "older_than",
    "after",
    "before",
    "newer",
    "older",
    "larger",
    "smaller",
}
SYSTEM_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "spam": "SPAM",
    "trash": "TRASH",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
    "draft": "DRAFT",
    "drafts": "DRAFT",
}


class QueryError(ValueError):
    """The query cannot be read (Gmail answers 400 Invalid query)."""


def words(text: str) -> tuple[str, ...]:
    return tuple(match.group(0).casefold() for match in _WORD.finditer(text))


@dataclass(frozen=True)
class Searchable:
    """What the search sees of a message."""

    subject: tuple[str, ...]
    sender: tuple[str, ...]
    recipients: tuple[str, ...]  # To
    cc: tuple[str, ...]
    body: tuple[str, ...]
    filenames: tuple[tuple[str, ...], ...]
    labels: frozenset[str]
    user_labels: frozenset[str]  # names, casefolded
    internal_ms: int
    size: int  # bytes, for larger:/smaller:
    message_id: str  # the Message-ID header


@dataclass(frozen=True)
class Context:
    owner: tuple[str, ...]  # the mailbox address, as words
    now_ms: int


# -- syntax tree -------------------------------------------------------------------------------

Matcher = Callable[[Searchable, Context], bool]


@dataclass(frozen=True)
class Node:
    match: Matcher
    # Whether the query names spam or trash itself (then they are not excluded by default).
    reaches_spam_trash: bool = False


def _and(nodes: Sequence[Node]) -> Node:
    if len(nodes) == 1:
        return nodes[0]
    items = tuple(nodes)
    return Node(
        lambda m, c: all(n.match(m, c) for n in items),
        any(n.reaches_spam_trash for n in items),
    )


def _or(nodes: Sequence[Node]) -> Node:
    if len(nodes) == 1:
        return nodes[0]
    items = tuple(nodes)
    return Node(
        lambda m, c: any(n.match(m, c) for n in items),
        any(n.reaches_spam_trash for n in items),
    )


def _not(node: Node) -> Node:
    return Node(lambda m, c: not node.match(m, c), node.reaches_spam_trash)


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    if not needle:
        return True
    size = len(needle)
    return any(
        tuple(haystack[i : i + size]) == tuple(needle) for i in range(len(haystack) - size + 1)
    )


def _text(field_name: str | None, phrase: tuple[str, ...]) -> Node:
    """Words of a phrase, consecutive, in a field (None: anywhere)."""

    def fields(m: Searchable, c: Context) -> Iterable[Sequence[str]]:
        if field_name in (None, "from"):
            yield m.sender
        if field_name in (None, "to"):
            yield m.recipients
            yield m.cc
        if field_name == "cc":
            yield m.cc
        if field_name in (None, "subject"):
            yield m.subject
        if field_name is None:
            yield m.body
        if field_name in (None, "filename"):
            yield from m.filenames

    if field_name in ("from", "to", "cc") and phrase == ("me",):

        def is_owner(m: Searchable, c: Context) -> bool:
            return any(_contains(f, c.owner) for f in fields(m, c))

        return Node(is_owner)
    if field_name == "bcc":  # received mail shows no Bcc
        return Node(lambda m, c: False)
    if field_name == "rfc822msgid":
        return Node(lambda m, c: words(m.message_id) == phrase)
    return Node(lambda m, c: any(_contains(f, phrase) for f in fields(m, c)))


# -- operators with their own values -----------------------------------------------------------


def _labels(*ids: str) -> Node:
    wanted = frozenset(ids)
    reaches = bool(wanted & {"SPAM", "TRASH"})
    return Node(lambda m, c: bool(m.labels & wanted), reaches)


def _operator(name: str, value: str) -> Node:
    lowered = value.casefold()
    if name == "has":
        if lowered == "attachment":
            return Node(lambda m, c: bool(m.filenames))
        if lowered == "userlabels":
            return Node(lambda m, c: bool(m.user_labels))
        if lowered == "nouserlabels":
            return Node(lambda m, c: not m.user_labels)
        return Node(lambda m, c: False)
    if name == "is":
        if lowered == "read":
            return Node(lambda m, c: "UNREAD" not in m.labels)
        if lowered in ("unread", "starred", "important"):
            return _labels(SYSTEM_LABELS[lowered])
        return Node(lambda m, c: False)
    if name == "in":
        if lowered == "anywhere":
            return Node(lambda m, c: True, reaches_spam_trash=True)
        if lowered in SYSTEM_LABELS:
            return _labels(SYSTEM_LABELS[lowered])
        return _label(value)
    if name == "label":
        return _label(value)
    if name == "category":
        return _labels(f"CATEGORY_{value.upper()}")
    if name in ("newer_than", "older_than"):
        span = _duration(value)
        if name == "newer_than":
            return Node(lambda m, c: m.internal_ms > c.now_ms - span)
        return Node(lambda m, c: m.internal_ms < c.now_ms - span)
    if name in ("after", "newer"):
        at = _instant(value)
        return Node(lambda m, c: m.internal_ms >= at)
    if name in ("before", "older"):
        at = _instant(value)
        return Node(lambda m, c: m.internal_ms < at)
    if name in ("larger", "smaller"):
        size = _size(value)
        if name == "larger":
            return Node(lambda m, c: m.size > size)
        return Node(lambda m, c: m.size < size)
    raise AssertionError(name)  # pragma: no cover - OPERATORS is exhaustive


def _label(value: str) -> Node:
    system = SYSTEM_LABELS.get(value.casefold())
    name = value.casefold().replace("-", " ")
    wanted = value.casefold()

    def match(m: Searchable, c: Context) -> bool:
        if system is not None and system in m.labels:
            return True
        return name in m.user_labels or any(label.casefold() == wanted for label in m.labels)

    return Node(match, reaches_spam_trash=system in ("SPAM", "TRASH"))


def _duration(value: str) -> int:
    found = _DURATION.match(value.casefold())
    if not found:
        raise QueryError(f"Invalid duration {value!r}: use a number and d, m or y (e.g. 2y).")
    amount, unit = int(found.group(1)), found.group(2)
    days = {"d": 1, "m": 30, "y": 365}[unit]
    return amount * days * 86_400_000


def _instant(value: str) -> int:
    """Unix seconds, or a date read as midnight Pacific time; in milliseconds."""
    if value.isdigit() and len(value) > 8:
        return int(value) * 1000
    for pattern in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            day = datetime.strptime(value, pattern).replace(tzinfo=PACIFIC)
        except ValueError:
            continue
        return int(day.astimezone(UTC).timestamp() * 1000)
    raise QueryError(f"Invalid date {value!r}: use YYYY/MM/DD or Unix seconds.")


def _size(value: str) -> int:
    found = _SIZE.match(value)
    if not found:
        raise QueryError(f"Invalid size {value!r}: use bytes, or a number with K or M.")
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[found.group(2).casefold()]
    return int(found.group(1)) * factor


# -- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "(" ")" "{" "}" "OR" "AND" "-" "word" "phrase" "op"
    text: str = ""
    operator: str = ""
    # For "op": the value's kind ("word", "phrase" or "group") and its tokens when a group.
    value_kind: str = ""
    group: tuple[Token, ...] = field(default_factory=tuple)


def _read_quoted(query: str, start: int) -> tuple[str, int]:
    end = query.find('"', start + 1)
    if end == -1:  # Gmail reads an unclosed quote to the end
        return query[start + 1 :], len(query)
    return query[start + 1 : end], end + 1


def _read_group(query: str, start: int) -> tuple[str, int]:
    depth, position = 0, start
    while position < len(query):
        char = query[position]
        if char == '"':
            _, position = _read_quoted(query, position)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return query[start + 1 : position], position + 1
        position += 1
    raise QueryError("Invalid query: unbalanced parentheses.")


def _read_word(query: str, start: int) -> tuple[str, int]:
    position = start
    while position < len(query) and not query[position].isspace() and query[position] not in "(){}":
        position += 1
    return query[start:position], position


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        char = query[position]
        if char.isspace():
            position += 1
        elif char in "(){}":
            tokens.append(Token(char))
            position += 1
        elif char == "|":
            tokens.append(Token("OR"))
            position += 1
        elif char == '"':
            text, position = _read_quoted(query, position)
            tokens.append(Token("phrase", text))
        elif char == "-" and position + 1 < len(query) and not query[position + 1].isspace():
            tokens.append(Token("-"))
            position += 1
        else:
            position = _read_term(query, position, tokens)
    return tokens


def _read_term(query: str, position: int, tokens: list[Token]) -> int:
    prefix = re.match(r"([A-Za-z_0-9]+):", query[position:])
    if prefix and prefix.group(1).casefold() in OPERATORS:
        operator = prefix.group(1).casefold()
        start = position + len(prefix.group(0))
        if start < len(query) and query[start] == '"':
            text, end = _read_quoted(query, start)
            tokens.append(Token("op", text, operator, "phrase"))
            return end
        if start < len(query) and query[start] == "(":
            text, end = _read_group(query, start)
            tokens.append(Token("op", text, operator, "group", tuple(tokenize(text))))
            return end
        text, end = _read_word(query, start)
        if not text:
            raise QueryError(f"Invalid query: {operator}: needs a value.")
        tokens.append(Token("op", text, operator, "word"))
        return end
    text, end = _read_word(query, position)
    if text == "OR":
        tokens.append(Token("OR"))
    elif text == "AND":
        tokens.append(Token("AND"))
    else:
        tokens.append(Token("word", text))
    return end


# -- parser -------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: Sequence[Token], default_field: str | None = None) -> None:
        self.tokens = tokens
        self.position = 0
        self.field = default_field

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.conjunction(closing=None)
        if self.peek() is not None:
            raise QueryError("Invalid query: unbalanced parentheses.")
        return node

    def conjunction(self, closing: str | None) -> Node:
        nodes: list[Node] = []
        while (token := self.peek()) is not None and token.kind != closing:
            if token.kind in (")", "}"):
                raise QueryError("Invalid query: unbalanced parentheses.")
            if token.kind == "AND":
                self.take()
                continue
            nodes.append(self.disjunction(closing))
        return _and(nodes) if nodes else Node(lambda m, c: True)

    def disjunction(self, closing: str | None) -> Node:
        nodes = [self.unary(closing)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            following = self.peek()
            if following is None or following.kind in (")", "}", "OR", "AND"):
                break  # a dangling OR is ignored
            nodes.append(self.unary(closing))
        return _or(nodes)

    def unary(self, closing: str | None) -> Node:
        token = self.peek()
        if token is not None and token.kind == "-":
            self.take()
            return _not(self.unary(closing))
        return self.primary(closing)

    def primary(self, closing: str | None) -> Node:
        token = self.take()
        if token.kind == "(":
            node = self.conjunction(closing=")")
            self._close(")")
            return node
        if token.kind == "{":
            nodes: list[Node] = []
            while (inner := self.peek()) is not None and inner.kind != "}":
                if inner.kind == "OR":
                    self.take()
                    continue
                nodes.append(self.unary("}"))
            self._close("}")
            return _or(nodes) if nodes else Node(lambda m, c: False)
        if token.kind == "op":
            return self.operator(token)
        if token.kind in ("word", "phrase"):
            return _text(self.field, words(token.text))
        # "OR"/"AND"/"-" where a term belongs: Gmail searches the word itself.
        return _text(self.field, words(token.text or token.kind))

    def operator(self, token: Token) -> Node:
        if token.operator in FIELD_OPERATORS:
            if token.value_kind == "group":
                return _Parser(token.group, token.operator).parse()
            if token.operator == "rfc822msgid":
                return _text("rfc822msgid", words(token.text))
            return _text(token.operator, words(token.text))
        if token.value_kind == "group":
            inner = [_operator(token.operator, t.text) for t in token.group if t.text]
            return _and(inner) if inner else Node(lambda m, c: True)
        return _operator(token.operator, token.text)

    def _close(self, kind: str) -> None:
        if self.peek() is None or self.take().kind != kind:
            raise QueryError("Invalid query: unbalanced parentheses.")


@dataclass(frozen=True)
class Query:
    root: Node
    text: str

    @property
    def reaches_spam_trash(self) -> bool:
        return self.root.reaches_spam_trash

    def matches(self, message: Searchable, context: Context) -> bool:
        return self.root.match(message, context)


def parse_query(text: str) -> Query:
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError("Invalid query: too long.")
    return Query(_Parser(tokenize(text)).parse(), text)
