"""One place that knows every secret value the process has seen, so no output can carry one.

Values come from `${env:NAME}` substitutions, tokens (kubeconfig, Kargo), Secret data the `secret`
check reads, and well-known CI credentials in the environment (`register_environment`). Every
reporter and progress line passes its text through `redact()`; text that is cut to a length is masked
first (`cut`, `tail`), so a cut never leaves part of a secret behind.

For each value the masked forms are: the value itself; percent-encoded (quote with and without `/`
safe, quote_plus, upper- and lower-case hex, and encoded twice); base64 (standard and URL-safe, with
and without padding, plus the three alignments of the value inside a larger base64 blob); and the
JSON-escaped and HTML-escaped value.

Length: a value of 6 characters or more is masked wherever it occurs. A shorter value is masked where it
stands as a whole word (not inside a longer run of letters and digits), so a short password "hunter"
is masked but "admin" does not turn "administrator" into "***istrator". Values that cannot be
secrets (empty, `true`, `false`, `0`, `1`, `yes`, `no`, `null`, …) are refused: masking them would
blank every report, and `register` says so (a warning on stderr) when the value was named explicitly.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping

MASK = "***"
# Below this length a value is masked only as a whole word (see the module docstring).
MIN_LENGTH = 6
TRIVIAL = frozenset({"", "true", "false", "yes", "no", "on", "off", "null", "none", "nil", "0", "1",
                     "-1", "y", "n", "t", "f"})
# Environment variables that hold credentials in CI systems and the tools the gate runs next to.
# GitHub Actions: https://docs.github.com/en/actions/security-for-github-actions/security-guides/
#   automatic-token-authentication and the runner's ACTIONS_* variables; GitLab:
#   https://docs.gitlab.com/ci/variables/predefined_variables/ (CI_JOB_TOKEN, CI_REGISTRY_PASSWORD,
#   CI_JOB_JWT*, CI_DEPLOY_PASSWORD, CI_DEPENDENCY_PROXY_PASSWORD).
KNOWN_SECRET_VARIABLES = frozenset({
    "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RESULTS_URL", "ACTIONS_ID_TOKEN_REQUEST_URL",
    "CI_JOB_TOKEN", "CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2", "CI_REGISTRY_PASSWORD",
    "CI_DEPLOY_PASSWORD", "CI_DEPENDENCY_PROXY_PASSWORD", "CI_REPOSITORY_URL", "GITLAB_TOKEN",
    "KARGO_API_TOKEN", "ARGOCD_AUTH_TOKEN", "NPM_TOKEN", "NODE_AUTH_TOKEN", "VAULT_TOKEN",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_CLIENT_SECRET", "GOOGLE_CREDENTIALS",
    "DOCKER_PASSWORD", "DOCKER_AUTH_CONFIG", "REGISTRY_PASSWORD", "BUILDKITE_AGENT_ACCESS_TOKEN",
    "CODECOV_TOKEN", "SONAR_TOKEN", "SLACK_WEBHOOK_URL", "GATE_KARGO_TOKEN",
})
SECRET_SUFFIXES = ("_TOKEN", "_PASSWORD", "_SECRET", "_KEY", "_JWT", "_PASSWD", "_CREDENTIALS",
                   "_APIKEY", "_PAT")
_WORD = "A-Za-z0-9"
_URL_SAFE = "A-Za-z0-9_.~\\-"  # urllib.parse._ALWAYS_SAFE, as a character class

_lock = threading.Lock()
_secrets: set[str] = set()  # the values as registered
_warned: set[str] = set()  # names already warned about
_long: set[str] = set()  # every form masked wherever it occurs
_short: set[str] = set()  # every form masked as a whole word
_matcher: _Matcher | None = None  # built on first use after a change
# Long forms are looked up by this many leading characters (MIN_LENGTH: every long form has them all).
PREFIX = MIN_LENGTH
REGEX_PREFIXES = 256  # see _Matcher


def is_secret_name(name: str) -> bool:
    """An environment variable that holds a credential by name (see KNOWN_SECRET_VARIABLES)."""
    upper = name.upper()
    return upper in KNOWN_SECRET_VARIABLES or upper.endswith(SECRET_SUFFIXES)


def register(value: str | None, *, name: str | None = None) -> bool:
    """Remember a secret value in all its forms; False (with a warning when `name` is given) when the
    value is too common to be masked."""
    if value is None:
        return False
    value = str(value)
    if value.strip().lower() in TRIVIAL:
        if name and value and name not in _warned:
            _warned.add(name)
            print(f"gate: warning: the value of {name} ({value!r}) is too common to be masked as a secret",
                  file=sys.stderr)
        return False
    forms = _forms(value)
    global _matcher
    with _lock:
        if value in _secrets:
            return True
        _secrets.add(value)
        for form in forms:
            (_long if len(form) >= MIN_LENGTH else _short).add(form)
        _matcher = None
    return True


def register_environment(env: Mapping[str, str] = os.environ) -> None:
    """Register the value of every variable named like a credential (silently skipping trivial ones)."""
    for name, value in env.items():
        if value and is_secret_name(name):
            register(value)
            if name.upper() == "CI_REPOSITORY_URL":  # https://gitlab-ci-token:TOKEN@host/...
                _userinfo = re.match(r"^[a-z]+://[^/@:]*:([^/@]+)@", value)
                if _userinfo:
                    register(_userinfo[1])


def _forms(value: str) -> set[str]:
    forms = {value, value.strip()}
    if "\n" in value.strip():  # a PEM key or a JSON credential: output may carry it line by line
        forms |= {line.strip() for line in value.splitlines()
                  if len(line.strip()) >= 16 and not line.startswith("-----")}  # PEM armour is public
        forms.add(" ".join(value.split()))  # as reports fold it onto one line
    forms |= _percent_forms(value)
    forms |= _base64_forms(value.encode("utf-8"))
    forms |= {html.escape(value), html.escape(value, quote=False)}  # reflected in an HTML page
    escaped = json.dumps(value)[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1]}
    return {f for f in forms if f}


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), text)


def _quote(value: str, safe: str = "/", plus: bool = False) -> str:
    """urllib.parse.quote (quote_plus with `plus`), byte for byte, at the cost of the characters it
    encodes rather than of every character: a 10,000-character token is quoted in microseconds, not
    the ~10 ms urllib's per-byte loop takes. A lone surrogate (an undecodable environment byte) is
    encoded as its UTF-8 bytes instead of raising."""
    safe_set = _URL_SAFE + re.escape(safe + (" " if plus else ""))

    def encode(match: re.Match[str]) -> str:
        return "".join(f"%{byte:02X}" for byte in match[0].encode("utf-8", "surrogatepass"))

    quoted = re.sub(f"[^{safe_set}]+", encode, value)
    return quoted.replace(" ", "+") if plus else quoted


def _percent_forms(value: str) -> set[str]:
    once = {_quote(value, safe=""), _quote(value), _quote(value, safe="", plus=True),
            _quote(value, safe="/", plus=True)}
    twice = {_quote(form, safe="") for form in once}
    return {variant for form in once | twice for variant in (form, _lower_hex(form))}


def _base64_forms(data: bytes) -> set[str]:
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode()
        forms |= {whole, whole.rstrip("=")}
        if len(data) < MIN_LENGTH:
            continue  # the inner runs of a short value would match random base64 text
        for offset in range(3):
            # The characters that depend only on the value, wherever it sits in a larger blob.
            encoded = encode(b"\0" * offset + data).decode()
            start, end = -(-8 * offset // 6), 8 * (offset + len(data)) // 6
            forms.add(encoded[start:end])
    return forms


def _alternation(values: Iterable[str]) -> str:
    """One regex matching any of the values, longest first, as a trie so many values stay fast. Callers
    pass short strings only (at most PREFIX characters), which bounds both the recursion here and the
    nesting of the pattern: a secret's length never reaches the regex compiler."""
    trie: dict = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[""] = True

    def emit(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:  # a shorter value ends here: the longer continuations are tried first (greedy)
            return body + "?" if len(branches) == 1 and len(branches[0]) == 1 else f"(?:{body})?"
        return body

    return emit(trie)


class _Matcher:
    """Finds every registered form in a text. A long form is found by its first PREFIX characters and
    confirmed with `str.startswith`, longest form first, so the cost of registering a secret is bounded
    by the number of its forms, not their length: a 10,000-character token costs what a short one does.
    Up to REGEX_PREFIXES distinct prefixes are looked for with one regex (C speed); past that, compiling
    the regex would cost more than it saves (Python's `re` compiles in Python: ~130 ms for 300 secrets),
    and a scan of the text's windows against a set of prefixes is cheaper. Short forms (below
    MIN_LENGTH) match as whole words through their own regex."""

    def __init__(self, long_forms: set[str], short_forms: set[str]) -> None:
        self.by_prefix: dict[str, list[str]] = {}
        for form in sorted(long_forms, key=len, reverse=True):
            self.by_prefix.setdefault(form[:PREFIX], []).append(form)
        self.long = (re.compile("(?=(" + _alternation(self.by_prefix) + "))")
                     if 0 < len(self.by_prefix) <= REGEX_PREFIXES else None)
        # Every match at every position (a lookahead consumes nothing), so overlapping forms are all found.
        self.short = (re.compile(f"(?=(?<![{_WORD}])(" + _alternation(short_forms) + f")(?![{_WORD}]))")
                      if short_forms else None)
        self.longest = max(map(len, long_forms | short_forms), default=0)

    def _long_starts(self, text: str) -> Iterator[int]:
        if self.long is not None:
            return (match.start() for match in self.long.finditer(text))
        if not self.by_prefix:
            return iter(())
        prefixes = self.by_prefix
        return (i for i in range(len(text) - PREFIX + 1) if text[i:i + PREFIX] in prefixes)

    def finds_long(self, text: str) -> bool:
        """Whether a long form occurs in the text (the matcher's own lookup, not a scan per form)."""
        return any(text.startswith(form, start) for start in self._long_starts(text)
                   for form in self.by_prefix[text[start:start + PREFIX]])

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every occurrence of a form, overlapping ones included, in order of start."""
        found: list[tuple[int, int]] = []
        for start in self._long_starts(text):
            for form in self.by_prefix[text[start:start + PREFIX]]:
                if text.startswith(form, start):
                    found.append((start, start + len(form)))
                    break
        if self.short is not None:
            found += [(m.start(1), m.end(1)) for m in self.short.finditer(text)]
        found.sort()
        return found


def _compiled() -> _Matcher | None:
    global _matcher
    with _lock:
        if _matcher is None and (_long or _short):
            _matcher = _Matcher(set(_long), set(_short))
        return _matcher


def _mask(text: str) -> str:
    """The text with every registered secret, in every form, replaced by MASK (see redact())."""
    if not text:
        return text
    matcher = _compiled()
    if matcher is None:
        return text
    spans: list[list[int]] = []
    for start, end in matcher.spans(text):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], MASK]
        last = end
    out.append(text[last:])
    return "".join(out)


def longest() -> int:
    """Length of the longest masked form: a window this wide holds any secret that starts in it."""
    matcher = _compiled()
    return matcher.longest if matcher else 0


def cut(text: str, limit: int, marker: str = "…") -> str:
    """Mask, then keep at most `limit` characters (ending with `marker` when cut)."""
    text = redact(text)
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker


def tail(text: str, limit: int, *, partial_start: bool = False) -> str:
    """Mask, then keep the last `limit` characters. `partial_start`: the text was itself cut at its
    start (e.g. the end of a large file), so a secret's suffix may open it; those characters are dropped."""
    text = redact(text)
    if partial_start:
        text = text[min(len(text), longest()):]
    return text[-limit:] if limit > 0 else ""


def clear() -> None:
    """For tests only: secrets and identifiers."""
    global _matcher
    with _lock:
        _identifiers.clear()
        _secrets.clear()
        _warned.clear()
        _long.clear()
        _short.clear()
        _matcher = None


# Query (and fragment) parameters whose value is a credential wherever a URL carries one.
CREDENTIAL_PARAMETERS = frozenset({
    "token", "access_token", "id_token", "refresh_token", "auth", "auth_token", "api_key", "apikey",
    "password", "passwd", "secret", "client_secret", "private_token", "sig", "signature", "x-amz-signature",
    "x-amz-security-token", "x-goog-signature",
})


def url_secrets(url: str) -> list[str]:
    """The credential-bearing parts of a URL, as written and percent-decoded: the userinfo
    (`user:password`, the password, and a username that stands alone, which is then a token as in
    `https://TOKEN@host`) and the values of credential query or fragment parameters (`token=`,
    `access_token=`, …)."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    url = url.strip() if isinstance(url, str) else ""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url) or ("@" not in url and "=" not in url):
        return []  # not a URL (an e-mail address has no userinfo to mask)
    found: list[str] = []
    scheme_less = url.split("://", 1)[1]
    authority = re.split(r"[/?#]", scheme_less, maxsplit=1)[0]
    userinfo = authority.rpartition("@")[0] if "@" in authority else ""
    if userinfo:
        user, colon, password = userinfo.partition(":")
        found += [userinfo, unquote(userinfo)]
        found += [password, unquote(password)] if colon else [user, unquote(user)]
    try:
        parts = urlsplit(url)
    except ValueError:
        return [f for f in found if f]
    for text in (parts.query, parts.fragment):
        for raw in text.split("&") if text else ():
            name, eq, value = raw.partition("=")
            if eq and unquote(name).strip().lower() in CREDENTIAL_PARAMETERS and value:
                found.append(value)
                found += [v for _, v in parse_qsl(raw, keep_blank_values=True)]
    return [f for f in dict.fromkeys(found) if f]


def register_url(url: str | None) -> None:
    """Register the credential-bearing parts of a URL (url_secrets) wherever the gate reads one: a
    kubeconfig server or proxy-url, KARGO_API_ADDRESS, a check's URL."""
    for value in url_secrets(url or ""):
        register(value)


# -- identifiers the gate prints ------------------------------------------------------------------------
# A short secret (`admin`, read by a `secret` check) is masked as a whole word, and "-" ends a word, so it
# was masked inside the names the gate itself prints: "Secret monitoring/grafana-*** has ***-user". The
# spec's object and key names are not secret: they are registered here, and redact() masks around them.
# Free text (messages, logs, bodies) is masked as before, and an identifier is never protected when it is
# a secret, holds a long (>= MIN_LENGTH) one, or came from `${env:…}` (the spec loader leaves those out).
_identifiers: set[str] = set()
_HOLD = 0xF0000  # Supplementary Private Use Area: one placeholder character per identifier in a text
_HELD = re.compile("[\U000F0000-\U000FFFFD]")


def register_identifier(value: object) -> None:
    """Mark a name the gate prints (an object, key, namespace or stage name from the spec) as not secret."""
    if isinstance(value, str) and len(value.strip()) >= 2 and value.strip().lower() not in TRIVIAL:
        with _lock:
            _identifiers.add(value)


def _protectable(names: Iterable[str]) -> list[str]:
    with _lock:
        return [n for n in names if n not in _secrets and not any(form in n for form in _long)]


def redact(text: str) -> str:
    """The text with every registered secret, in every form, replaced by MASK; registered identifiers
    (register_identifier) stay whole even where a short secret is part of them."""
    if not text or not _identifiers:
        return _mask(text)
    with _lock:
        present = [n for n in _identifiers if n in text]
    present = _protectable(sorted(present, key=len, reverse=True))
    if not present or _HELD.search(text):  # the text has such characters already: no placeholders
        return _mask(text)
    holds = {name: chr(_HOLD + i) for i, name in enumerate(present)}
    held = re.sub("|".join(re.escape(n) for n in present), lambda m: holds[m[0]], text)
    masked = _mask(held)
    for name, hold in holds.items():
        masked = masked.replace(hold, name)
    matcher = _compiled()
    if matcher is not None and matcher.finds_long(masked):  # an identifier overlapped a long secret: mask all
        return _mask(text)
    return masked
