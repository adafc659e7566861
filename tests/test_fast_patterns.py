"""The fast pattern path's acceptance gate: on every pattern it accepts it gives exactly the comparisons of
stix2-patterns (the reference), and it accepts no pattern the library rejects. A corpus of the IC's shapes and of
what the STIX grammar allows around them, then generated and mutated patterns (hypothesis)."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2patterns.exceptions import ParseException
from stix2patterns.v21.pattern import Pattern

from sekoia_ic.stix.fast_patterns import KEYWORDS, comparisons
from tests.standins import stix_data


def reference(pattern):
    try:
        return {k: [(list(path), op, literal) for path, op, literal in v]
                for k, v in Pattern(pattern).inspect().comparisons.items()}
    except ParseException:
        return "rejected"
    except Exception as exc:  # noqa: BLE001 - any other failure of the library counts as a rejection too
        return f"rejected ({type(exc).__name__})"


def agrees(pattern):
    fast = comparisons(pattern)
    if fast is None:
        return True  # handed to the library: nothing to compare
    expected = reference(pattern)
    assert expected == fast, f"{pattern!r}: fast {fast!r}, library {expected!r}"
    return True


IC_SHAPES = [shape(n)[0] for shape in stix_data.SHAPES for n in (0, 1, 7, 250, 1234)]
CORPUS = IC_SHAPES + [
    "[ipv4-addr:value = '198.51.100.1/32' OR ipv4-addr:value = '203.0.113.33/32']",
    "[network-traffic:dst_ref.value = 'x.org' AND network-traffic:dst_port = 30303]",
    "[network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24']",
    "[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'a.b']",
    "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a.b']",
    "[url:value = 'it\\'s \\\\ fine']", "[url:value = 'bad \\n escape']", "[url:value = 'unterminated]",
    "[x:y = 'a\nb']", "[x:y = 'é ü 漢字 😀']", "[x:y = '\x00\x01\x7f']", "[x:y = '']",
    "[x:y = 5]", "[x:y = -0]", "[x:y = 05]", "[x:y = +5]", "[x:y = 1.5]", "[x:y = true]", "[x:y = h'aa']",
    "[x:y = b'YQ==']", "[x:y = t'2026-01-01T00:00:00Z']", "[x:y = 9999999999999999999999]",
    "[AND:value = '1']", "[And:value = '1']", "[true:value = '1']", "[x:true = '1']", "[x:AND = '1']",
    "[x:y = '1' and x:z = '2']", "[x:y = '1'] or [x:y = '2']", "[ x : y . z = '1' ]", "[x:y='1']",
    "[x:y = '1']AND[x:z = '2']", "[x:'y' = '1']", "[x:y.'' = '1']", "[x-:y = '1']", "[_x:_y = '1']",
    "[x:y = '1' OR x:z = '2' AND x:w = 3]", "[x:y[*] = 'a']", "[x:y.z[1] = 'a']", "[x:y.'a\\'b' = '1']",
    "[x:y = '1'] WITHIN 5 SECONDS", "[x:y = '1'] REPEATS 2 TIMES", "[x:y = '1'] START t'2026-01-01T00:00:00Z' "
    "STOP t'2026-01-02T00:00:00Z'", "([x:y = '1'])", "[(x:y = '1')]", "[x:y IN ('a', 'b')]", "[x:y MATCHES 'a']",
    "[x:y LIKE 'a%']", "[x:y != '1']", "[x:y NOT = '1']", "[x:y > 5]", "[x:y ISSUPERSET '1.2.3.0/24']",
    "[x:y = '1'] FOLLOWEDBY [x:z = '2']", "[]", "[x:y = '1'", "x:y = '1'", "[x:y = '1']]", "[[x:y = '1']]",
    "[x:y = '1' AND]", "[x:y = '1' OR OR x:z = '2']", "[x:y = '1'] OR", " [x:y = '1'] ", "\t[x:y = '1']\n",
    "[x:y = '1' ] /* comment */", "[x:y\u00a0= '1']", "[x:y = '1']\u3000", "[ipv4-addr:value = '1' AND",
    "[file:hashes.'SHA-256' = 'aa' OR file:hashes.MD5 = 'bb' OR file:hashes.'SHA-1' = 'cc']",
    "[file:hashes.SHA256 = 'aa']", "[email-message:sender_ref.value = 'a@b.c']", "[1x:y = '1']", "[x:1 = '1']",
    "[x:y.-z = '1']", "[x:y = '1']OR[x:z = '2']", "[x:y = '1'] OR[x:z = '2']", "[x:y = 'a'b']",
    "[x:y = 5x]", "[x:y = 5]x", "[x:y = 5 ]", "[x:y = '1' AND x:z = 2 OR x:w = -3]",
] + [f"[{k}:y = '1']" for k in KEYWORDS] + [f"[x:{k} = '1']" for k in KEYWORDS]


@pytest.mark.parametrize("pattern", CORPUS)
def test_corpus(pattern):
    assert agrees(pattern)


def test_the_ic_shapes_all_take_the_fast_path():
    assert all(comparisons(p) is not None for p in IC_SHAPES)


# ---------------------------------------------------------------------------------------------- generated
ALPHABET = st.sampled_from(list("abz_-:.'\\[]()= \t\n01-9+\"") + ["AND", "OR", " AND ", " OR ", "ISSUBSET",
                                                                     "value", "ipv4-addr", "'1.2.3.4'", "é", "\x00"])
identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)
path_name = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
                      st.from_regex(r"'[A-Za-z0-9 _-]{0,8}'", fullmatch=True))
string_literal = st.lists(st.one_of(st.characters(blacklist_characters="'\\"), st.just("\\'"), st.just("\\\\"),
                                    st.just("\\n")), max_size=12).map(lambda parts: "'" + "".join(parts) + "'")
literal = st.one_of(string_literal, st.from_regex(r"[-+]?(0|[1-9][0-9]{0,20})", fullmatch=True),
                    st.sampled_from(["1.5", "true", "h'aa'", "05"]))
space = st.sampled_from(["", " ", "  ", "\t", "\n"])


@st.composite
def plain_patterns(draw):
    """Patterns of (and near) the IC's shape: the generator picks every token and every gap."""
    observations = []
    for _ in range(draw(st.integers(1, 3))):
        parts = []
        for _ in range(draw(st.integers(1, 4))):
            path = draw(st.lists(path_name, min_size=1, max_size=3))
            parts.append(f"{draw(identifier)}:{'.'.join(path)}{draw(space)}{draw(st.sampled_from(['=', 'ISSUBSET', '!=', 'IN']))}"
                         f"{draw(space)}{draw(literal)}")
        joins = [draw(st.sampled_from([" AND ", " OR ", "AND", " and "])) for _ in parts[1:]]
        body = parts[0] + "".join(j + p for j, p in zip(joins, parts[1:]))
        observations.append(f"[{draw(space)}{body}{draw(space)}]")
    joins = [draw(st.sampled_from([" AND ", " OR ", " FOLLOWEDBY ", "OR"])) for _ in observations[1:]]
    return draw(space) + observations[0] + "".join(j + o for j, o in zip(joins, observations[1:])) + draw(space)


@st.composite
def mutated(draw):
    """A valid IC pattern with a few characters inserted, deleted or replaced."""
    text = list(draw(st.sampled_from(IC_SHAPES + CORPUS[:20])))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        token = draw(ALPHABET)
        if action == "insert":
            text[at:at] = [token]
        elif text and at < len(text):
            text[at:at + 1] = [] if action == "delete" else [token]
    return "".join(text)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_patterns())
def test_generated_patterns(pattern):
    assert agrees(pattern)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_patterns(pattern):
    assert agrees(pattern)
