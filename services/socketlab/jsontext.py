"""JSON text exactly as ``json.dumps(obj)`` writes it, without importing :mod:`json`.

``import json`` imports json.decoder, json.scanner and json.encoder, which compile regular
expressions at import and so import :mod:`re` and :mod:`enum`: some 10 million instructions,
a fifth of what the browser's ``--json`` page load may spend in all (issue 17). What writing
needs is the C encoder that json.dumps itself calls, ``_json.make_encoder``; :func:`dumps` calls
it with the arguments json.dumps gives it (``separators=(", ", ": ")``, ``ensure_ascii``,
``allow_nan``, circular-reference checks), so the text is the same, byte for byte.

``_json`` is CPython's accelerator for :mod:`json`, not a public module: where it is missing or
its encoder takes other arguments (another implementation, another version), :func:`dumps` is
``json.dumps``. Reading JSON is left to :mod:`json`, imported where it is needed.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

try:
    from _json import encode_basestring_ascii as _quote
    from _json import make_encoder as _make_encoder

    _HAVE_C = True
except ImportError:  # pragma: no cover -- CPython has it
    _HAVE_C = False


def _default(obj: object) -> object:
    # json.JSONEncoder.default's error, word for word.
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _encoder() -> Callable[[object, int], Any] | None:
    """A new C encoder (its circular-reference markers are its own), or None without one."""
    if not _HAVE_C:
        return None
    try:
        return _make_encoder({}, _default, _quote, None, ": ", ", ", False, False, True)
    except TypeError:  # pragma: no cover -- an interpreter whose encoder takes other arguments
        return None


def dumps(obj: object) -> str:
    """``json.dumps(obj)``: the same text for the same object, the same errors for the rest."""
    if isinstance(obj, str):
        return _quote(obj) if _HAVE_C else _dumps_with_json(obj)
    encode = _encoder()
    if encode is None:  # pragma: no cover -- CPython has it
        return _dumps_with_json(obj)
    return "".join(encode(obj, 0))


def _dumps_with_json(obj: object) -> str:
    import json  # only where the C encoder is missing

    return json.dumps(obj)
