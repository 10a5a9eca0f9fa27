"""The browser's per-request records write their ``__init__`` out (for speed, issue 17): each
must take the fields, defaults and factories its ``@record`` declares, and build what the
generic ``structs._init`` would."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from socketlab import structs
from socketlab.browser import browser, extract, pool, records, transport, urls

CLASSES: list[Any] = [  # record classes (Any: the type checker knows no __record_*__)
    urls.URL,
    extract.Reference,
    browser.Fetch,
    records.Entry,
    records.Timings,
    transport.Progress,
    transport.Reply,
    pool.Lease,
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_the_written_init_takes_the_declared_fields(cls: Any) -> None:
    init = cls.__dict__["__init__"]  # the class's own: written out, or this test is moot
    assert init is not structs._init
    params = list(inspect.signature(init).parameters.values())[1:]
    fields = structs.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for param, spec in zip(params, fields, strict=True):
        assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        if spec.default_factory is not None:
            assert param.default is structs.MISSING, spec.name
        elif spec.default is structs.MISSING:
            assert param.default is inspect.Parameter.empty, spec.name
        else:
            assert param.default == spec.default, spec.name
            assert type(param.default) is type(spec.default), spec.name


def _generic(cls: Any, *args: Any, **kwargs: Any) -> Any:
    made = object.__new__(cls)
    structs._init(made, *args, **kwargs)
    return made


def _arguments(cls: Any) -> list[Any]:
    """A distinct value for every field, so that a swapped pair of fields shows."""
    return [f"{cls.__name__}-{index}" for index in range(len(structs.fields(cls)))]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_the_written_init_builds_what_the_generic_one_builds(cls: Any) -> None:
    names = [f.name for f in structs.fields(cls)]
    required = list(cls.__record_required__)
    given = _arguments(cls)
    every = cls(*given)
    assert vars(every) == vars(_generic(cls, *given))
    assert [getattr(every, name) for name in names] == given
    by_keyword = dict(zip(names, given, strict=True))
    assert vars(cls(**by_keyword)) == vars(_generic(cls, **by_keyword))
    least = dict(zip(required, given, strict=False))
    fewest = cls(**least)
    assert vars(fewest) == vars(_generic(cls, **least))
    assert fewest == _generic(cls, **least)


def test_factory_defaults_are_fresh_for_every_entry() -> None:
    first = records.Entry(1, "page_1", "GET", "http://h/", "document")
    second = records.Entry(2, "page_1", "GET", "http://h/", "document")
    first.request_headers.append(("a", "b"))
    first.timings.send = 5.0
    assert second.request_headers == []
    assert second.timings == records.Timings()


def test_frozen_records_stay_frozen() -> None:
    url = urls.URL("h", 80, "/")
    with pytest.raises(structs.FrozenInstanceError):
        url.host = "other"  # type: ignore[misc]
