"""A list answer parsed as its bytes arrive, each item projected as soon as it is whole.

A 20,000-pod list is ~130 MB of JSON. Read whole, then parsed, it costs its bytes, its text and its
objects at once; parsed piece by piece (gate.engine.deadlines.pieces), it costs one piece (256 kB),
the item being read and the projected items. The values are json's own (`JSONDecoder.raw_decode` reads
each key, value and item: same values, same errors as json.loads); only the top-level object and its
`items` array are walked here. The page is judged afterwards (gate.cluster.answers.kube_list) as any
other: a projection keeps metadata.name and leaves what is not an object as it is, so the judgment is
the one the full page would get. A body that is not one JSON object is parsed whole by parse_body(),
for the judge to say what it is.

managedFields, skipped unread: on a real server it is 46 % of a pod's bytes (docs/semantics.md "Reading big
lists"), and a projection drops it after json has parsed it. For a kind declared with
`skip_managed_fields` (gate.cluster.projection: its only key of that name is metadata's) whose projection
drops it, an item's `"managedFields":[ … ]` becomes `[]` before the item is parsed, but only where the
text proves where the array ends: `"managedFields"` is a key (its quote follows `{`, `,` or a space, so
in valid JSON it opens a string), and up to the first `]` after its `[` there is no other `[` (no nested
array), no escaped backslash, and an even number of unescaped quotes (so that `]` is outside every
string). Anything else is parsed as it came.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

HEAD = 64 * 1024  # bytes kept to show what came when the answer does not parse
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
_KEY = '"managedFields":'
_KEY_BEFORE = frozenset('{, \t\n\r')


class Unparsed(str):
    """The first part of an answer that does not parse as JSON; `size`: the whole answer's length.
    `encoding` "protobuf" (gate.cluster.protobody): the text is why the answer does not decode."""

    size: int
    encoding: str = "JSON"

    def __new__(cls, text: str, size: int, encoding: str = "JSON") -> Unparsed:
        obj = super().__new__(cls, text)
        obj.size = size
        obj.encoding = encoding
        return obj


class _More(Exception):
    """The text so far ends inside the next token: wait for the next piece."""


def parse_pieces(pieces: Iterable[bytes], project: Callable[[dict], dict] | None,
                 parse_body: Callable[[bytes], Any]) -> Any:
    """The answer `pieces` make, as parse_body() would give it, its items projected as they are read.
    `parse_body` parses what is not one JSON object (kept whole, as before) or a short answer that
    failed here; a long one that does not parse comes back as Unparsed."""
    parser = _ListParser(project, "managedFields" in getattr(project, "unread", ()))
    head = bytearray()
    size = 0
    for piece in pieces:
        size += len(piece)
        if len(head) < HEAD:
            head += piece[:HEAD - len(head)]
        parser.feed(piece)
    if parser.raw is not None:
        return parse_body(b"".join(parser.raw))
    try:
        return parser.close()
    except ValueError:
        if size <= HEAD:
            return parse_body(bytes(head))
        return Unparsed(bytes(head).decode("utf-8", "replace"), size)


class _ListParser:
    """The top-level object, walked one token at a time over a text that grows piece by piece; what is
    read is cut off the front, so the text held is about one piece and the token in progress."""

    def __init__(self, project: Callable[[dict], dict] | None, strip: bool) -> None:
        self.project = project
        self.strip = strip
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")  # as parse_body reads bytes
        self.text = ""
        self.pos = 0
        self.state = "start"
        self.key = ""
        self.out: dict[str, Any] = {}
        self.items: list = []
        self.retry_at = 0  # a value cut by a piece's end is tried again once the text has doubled
        self.final = False
        self.error: ValueError | None = None  # the answer is not JSON: read on, parse no more
        self.seen: list[bytes] = []  # the pieces before the first token (for parse_body, if not an object)
        self.raw: list[bytes] | None = None  # not an object: the pieces, kept for parse_body()

    def feed(self, piece: bytes) -> None:
        if self.raw is not None:
            self.raw.append(piece)
            return
        if self.error is not None:
            return
        if self.state == "start":
            self.seen.append(piece)
        new = self.decoder.decode(piece)
        if self.strip and self.state.startswith("item"):
            self.text = _strip(self.text[self.pos:] + new)
        else:
            self.text = self.text[self.pos:] + new
        self.pos = 0
        if len(self.text) >= self.retry_at:
            self._run()

    def close(self) -> dict:
        if self.error is not None:
            raise self.error
        self.text = self.text[self.pos:] + self.decoder.decode(b"", final=True)
        self.pos = 0
        self.final = True
        self._run()
        if self.state != "end":
            raise ValueError("the answer ends inside its object")
        if self.text[_SPACE.match(self.text, self.pos).end():]:
            raise ValueError("extra data after the object")
        return self.out

    def _run(self) -> None:
        try:
            while self.state != "end" and self.raw is None:
                getattr(self, "_" + self.state.replace("-", "_"))()
        except _More:
            if self.final:
                raise ValueError("the answer ends inside its object") from None
        except ValueError as exc:
            if self.final:
                raise
            self.error, self.text, self.pos = exc, "", 0

    def _char(self) -> str:
        """The next character that is not space (pos at it); _More at the end of the text."""
        self.pos = _SPACE.match(self.text, self.pos).end()
        if self.pos >= len(self.text):
            self.retry_at = 0
            raise _More
        return self.text[self.pos]

    def _value(self) -> Any:
        """The JSON value at pos (pos past it); _More when the text may end inside it."""
        try:
            value, end = _DECODER.raw_decode(self.text, self.pos)
        except ValueError:
            if self.final:
                raise
            self.retry_at = 2 * (len(self.text) - self.pos)
            raise _More from None
        if end == len(self.text) and not self.final:
            self.retry_at = 0
            raise _More  # a number may go on in the next piece
        self.pos = end
        return value

    # -- one method per state: read a token, move on to the next state, or raise _More ----------------
    def _start(self) -> None:
        if self._char() != "{":
            self.raw, self.seen = self.seen, []  # not an object: parsed whole, the judge says what it is
            return
        self.seen = []
        self.pos += 1
        self.state = "first-key"

    def _first_key(self) -> None:
        if self._char() == "}":
            self.pos += 1
            self.state = "end"
        else:
            self.state = "key"

    def _key(self) -> None:
        self._char()
        key = self._value()
        if not isinstance(key, str):
            raise ValueError("an object key is not a string")
        self.key = key
        self.state = "colon"

    def _colon(self) -> None:
        if self._char() != ":":
            raise ValueError("expected ':'")
        self.pos += 1
        self.state = "member"

    def _member(self) -> None:
        if self._char() == "[" and self.key == "items":
            self.pos += 1
            self.items = []
            self.state = "items-first"
            if self.strip:
                self.text = self.text[:self.pos] + _strip(self.text[self.pos:])
            return
        self.out[self.key] = self._value()
        self.state = "after"

    def _after(self) -> None:
        char = self._char()
        if char not in ",}":
            raise ValueError("expected ',' or '}'")
        self.pos += 1
        self.state = "key" if char == "," else "end"

    def _items_first(self) -> None:
        if self._char() == "]":
            self._items_end()
        else:
            self.state = "item"

    def _item(self) -> None:
        self._char()
        item = self._value()
        self.items.append(self.project(item) if self.project is not None and isinstance(item, dict) else item)
        self.state = "item-after"
        self._items_run()

    def _items_run(self) -> None:
        """The common case in one loop: objects separated by a bare `,` (as a server writes them), read
        until the text runs out or something else comes; the state methods take it from there."""
        text, pos, end = self.text, self.pos, len(self.text) - 1  # an item ending the text may be cut
        decode, append, project = _DECODER.raw_decode, self.items.append, self.project
        try:
            while pos < end and text[pos] == "," and text[pos + 1] == "{":
                item, after = decode(text, pos + 1)
                if after >= end:
                    break
                append(project(item) if project is not None else item)
                pos = after
        except ValueError:
            pass  # an item cut by the piece's end, or an error: _item reads it again and decides
        self.pos = pos

    def _item_after(self) -> None:
        char = self._char()
        if char not in ",]":
            raise ValueError("expected ',' or ']'")
        if char == "]":
            self._items_end()
        else:
            self.pos += 1
            self.state = "item"

    def _items_end(self) -> None:
        """At the `]` that closes `items`: the list is a member like any other."""
        self.pos += 1
        self.out[self.key] = self.items
        self.state = "after"


def _strip(text: str) -> str:
    """`text` with each provable `"managedFields":[…]` cut to `[]` (module doc). str.find and str.count,
    not a regular expression: 0.33 s for a 20,000-pod list, where a regex that reads strings takes 2.7 s."""
    out: list[str] = []
    pos = 0
    find, count = text.find, text.count
    i = find(_KEY)
    while i >= 0:
        j = _SPACE.match(text, i + len(_KEY)).end()
        if text[j:j + 1] != "[" or i == 0 or text[i - 1] not in _KEY_BEFORE:
            i = find(_KEY, j)
            continue
        j += 1
        e = find("]", j)
        if e < 0:
            break  # the array goes on in the next piece: cut it then
        if e > j and find("[", j, e) < 0 and find("\\\\", j, e) < 0 \
                and not (count('"', j, e) - count('\\"', j, e)) % 2:
            out.append(text[pos:j])
            pos = e
        i = find(_KEY, e)
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)
