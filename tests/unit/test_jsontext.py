"""socketlab.jsontext writes what json.dumps writes, without importing json (issue 17)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from socketlab import jsontext
from tests.support.paths import REPO

TRICKY_TEXT = [
    "",
    "plain",
    'quote " and backslash \\',
    "\x00\x01\x1f\x7f control",
    "\n\r\t\b\f",
    "é ü ß",
    "\u2028\u2029",
    "\U0001f600 astral",
    "\ud800 lone surrogate",
    "</script>",
]

NUMBERS = [0, -1, 2**63, -(2**70), 1.5, -0.0, 1e300, 1e-300, 0.1, float("nan"), float("inf")]


def _random_value(rnd: random.Random, depth: int = 0) -> object:
    kind = rnd.randrange(9 if depth < 4 else 5)
    if kind == 0:
        return rnd.choice(TRICKY_TEXT) + "".join(chr(rnd.randrange(0x250)) for _ in range(3))
    if kind == 1:
        return rnd.choice(NUMBERS)
    if kind == 2:
        return rnd.choice([None, True, False])
    if kind == 3:
        return rnd.randrange(-(10**6), 10**6)
    if kind == 4:
        return rnd.random() * 10 ** rnd.randrange(-5, 20)
    if kind in (5, 6):
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    keys: list[object] = [rnd.choice(TRICKY_TEXT), 1, 2.5, None, True, "k"]
    return {rnd.choice(keys): _random_value(rnd, depth + 1) for _ in range(rnd.randrange(4))}


@pytest.mark.parametrize(
    "obj",
    [*TRICKY_TEXT, *NUMBERS, None, True, [], {}, [[[]]], {"a": {"b": [1, "c", None]}}, (1, 2)],
)
def test_the_text_is_json_dumps_text(obj: object) -> None:
    assert jsontext.dumps(obj) == json.dumps(obj)


def test_the_text_is_json_dumps_text_for_generated_documents() -> None:
    rnd = random.Random(17)
    for _ in range(2000):
        obj = _random_value(rnd)
        assert jsontext.dumps(obj) == json.dumps(obj), obj


@pytest.mark.parametrize("bad", [{"a": object()}, {(1, 2): 3}, {1, 2}, b"bytes", [1, 1j]])
def test_what_json_dumps_refuses_it_refuses_with_the_same_error(bad: object) -> None:
    with pytest.raises(TypeError) as expected:
        json.dumps(bad)
    with pytest.raises(TypeError) as got:
        jsontext.dumps(bad)
    assert str(got.value) == str(expected.value)


def test_a_circular_document_is_refused_and_the_next_one_written() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        jsontext.dumps({"loop": loop})
    same = [1]
    assert jsontext.dumps([same, same]) == "[[1], [1]]"  # seen twice is not a circle


def test_writing_imports_neither_json_nor_re() -> None:
    code = (
        "import sys\n"
        "from socketlab import jsontext\n"
        "text = jsontext.dumps({'page': [1, 2.5, None, 'é'], 'ok': True})\n"
        "print(text)\n"
        "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "services")),
        timeout=60,
        check=True,
    )
    text, imported = done.stdout.splitlines()
    assert json.loads(text) == {"page": [1, 2.5, None, "é"], "ok": True}
    assert imported == "[]"
