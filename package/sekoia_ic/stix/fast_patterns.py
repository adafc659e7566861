"""A fast path for the STIX patterns the IC sends, with stix2-patterns as the reference and the fallback.

The IC's patterns are nearly all of one plain shape: observation expressions `[...]` joined by OR or AND, each
holding comparisons `<object type>:<path> = <string or integer>` (or ISSUBSET) joined by OR or AND. `comparisons()`
reads exactly that shape, strictly, and answers what `Pattern(pattern).inspect().comparisons` answers; for anything
else (qualifiers, parentheses, other operators or literals, escapes in a quoted path, unusual spacing...) it answers
None and the caller asks stix2-patterns. tests/test_fast_patterns.py checks both on a corpus and on generated
patterns: the same comparisons for every pattern it accepts, and it accepts none the library rejects. Why a fast
path: docs/design.md, "Library internals".
"""
import re

# Tokens of STIXPattern.g4 (stix2-patterns 2.1.2) that an identifier may not be.
KEYWORDS = frozenset(("AND", "OR", "NOT", "FOLLOWEDBY", "LIKE", "MATCHES", "ISSUPERSET", "ISSUBSET", "EXISTS",
                      "LAST", "IN", "START", "STOP", "SECONDS", "true", "false", "WITHIN", "REPEATS", "TIMES"))
_WS = re.compile(r"[ \t\r\n]*")
_OBJECT_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # IdentifierWithHyphen
_PATH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # IdentifierWithoutHyphen
_PLAIN_QUOTED = re.compile(r"'([^'\\]*)'")  # a quoted path component without escapes
_STRING = re.compile(r"'(?:[^'\\]|\\['\\])*'")  # StringLiteral: only \' and \\ escapes
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")  # IntNegLiteral / IntPosLiteral without '+'
_OPERATOR = re.compile(r"=|ISSUBSET(?![A-Za-z0-9_])")
_JOIN = re.compile(r"(AND|OR)(?=[ \t\r\n\[])")
_END_OF_LITERAL = frozenset(" \t\r\n]")


def comparisons(pattern):
    """{object type: [(path, operator, literal text)]} as stix2-patterns' inspector gives them, or None when the
    pattern is not of the plain shape (ask stix2-patterns then)."""
    if not isinstance(pattern, str):
        return None
    found = {}
    pos = _WS.match(pattern).end()
    while True:
        if pattern[pos:pos + 1] != "[":
            return None
        pos = _WS.match(pattern, pos + 1).end()
        while True:
            pos = _comparison(pattern, pos, found)
            if pos is None:
                return None
            pos = _WS.match(pattern, pos).end()
            if pattern[pos:pos + 1] == "]":
                break
            join = _JOIN.match(pattern, pos)
            if not join:
                return None
            pos = _WS.match(pattern, join.end()).end()
        pos = _WS.match(pattern, pos + 1).end()
        if pos == len(pattern):
            return found
        join = _JOIN.match(pattern, pos)
        if not join:
            return None
        pos = _WS.match(pattern, join.end()).end()


def _comparison(pattern, pos, found):
    """Read `type:path op literal` at pos into found; the position after it, or None."""
    match = _OBJECT_TYPE.match(pattern, pos)
    if not match or match.group() in KEYWORDS or pattern[match.end():match.end() + 1] != ":":
        return None
    object_type, pos = match.group(), match.end() + 1
    path = []
    while True:
        component = _path_component(pattern, pos)
        if component is None:
            return None
        name, pos = component
        path.append(name)
        if pattern[pos:pos + 1] != ".":
            break
        pos += 1
    if pattern[pos:pos + 1] not in (" ", "\t", "\r", "\n", "=", "I"):
        return None  # a list index [n] / [*], or anything else: not the plain shape
    pos = _WS.match(pattern, pos).end()
    operator = _OPERATOR.match(pattern, pos)
    if not operator:
        return None
    pos = _WS.match(pattern, operator.end()).end()
    # `=` takes a string or an integer; ISSUBSET only a string (STIXPattern.g4, propTest).
    literal = _STRING.match(pattern, pos) or (_INTEGER.match(pattern, pos) if operator.group() == "=" else None)
    if not literal or pattern[literal.end():literal.end() + 1] not in _END_OF_LITERAL:
        return None
    found.setdefault(object_type, []).append((path, operator.group(), literal.group()))
    return literal.end()


def _path_component(pattern, pos):
    match = _PATH_NAME.match(pattern, pos)
    if match:
        return (match.group(), match.end()) if match.group() not in KEYWORDS else None
    quoted = _PLAIN_QUOTED.match(pattern, pos)
    if quoted:
        return quoted.group(1), quoted.end()
    return None
