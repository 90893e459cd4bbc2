"""What an HTTP header can carry: a credential that cannot be sent is the user's to fix (exit 2), not an
internal error at the first request (http.client refuses a line break in a header value with ValueError and
cannot encode a character beyond Latin-1). Go's net/http refuses the same (httpguts.ValidHeaderFieldValue),
so kubectl and the kargo CLI fail on such a token too."""

from __future__ import annotations


def unsendable(value: str) -> str | None:
    """Why `value` cannot be a header value (never quoting it), or None when it can."""
    bad = next((ch for ch in value if (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F or ord(ch) > 0xFF),
               None)
    if bad is None:
        return None
    if bad in "\r\n":
        return "a line break (a YAML `|` block keeps a trailing newline: use `|-` or a plain string)"
    return f"the character U+{ord(bad):04X}, which an HTTP header cannot carry"
