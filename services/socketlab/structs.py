"""``@record``: the part of :mod:`dataclasses` the short-lived commands use, without its start-up.

Why: ``python3 -m socketlab.browser URL`` is a process of about 100 ms, and :mod:`dataclasses`
was a third of it -- importing the module (with :mod:`inspect`, :mod:`ast`, :mod:`dis` and
:mod:`tokenize` behind it) and, above all, making each class: ``@dataclass`` writes the source
of ``__init__``, ``__repr__``, ``__eq__`` (and for frozen classes ``__setattr__``,
``__delattr__``, ``__hash__``) and compiles each with ``exec``, about 0.7 ms per class on the
lab's machine and 18 ms for the browser's 27 classes. ``@record`` makes the same class from
generic methods that read a tuple of fields, so making a class costs microseconds; building an
instance costs a few microseconds more than a dataclass's generated ``__init__``, which is why
the per-request classes of the HTTP parser write their own ``__init__`` (kept, as a dataclass
keeps it).

Contract, as :func:`dataclasses.dataclass` for what is supported: fields are the class's own
annotations in order (after those of a base class that is a record); a plain class attribute is
the field's default; :func:`field` gives ``default``, ``default_factory`` or ``init=False``;
``__init__`` (unless the class defines one) takes the init fields positionally or by keyword
and calls ``__post_init__`` if the class has one; ``repr`` shows ``Name(a=1, b='x')``; ``eq``
(default on; a class's own ``__eq__`` is kept) compares instances of the same class field by
field, and then the class is unhashable unless ``frozen``; ``frozen`` refuses attribute
assignment with :class:`FrozenInstanceError` (an :class:`AttributeError`) and hashes the field
values. :func:`replace` copies with changes. Not supported: ``ClassVar``/``InitVar``
annotations, ``order``, ``slots``, ``kw_only``.
"""

from __future__ import annotations

from collections.abc import Callable

# typing is for the type checker only, here and in every module a page load of the browser
# imports (TYPE_CHECKING is a name both mypy and ruff read as typing's): importing it took
# 11.6 million instructions of the browser's start-up, about 4 ms (issue 17, callgrind), and
# a page load needs nothing of it at run time. Annotations are strings (PEP 563).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform, overload

    T = TypeVar("T")
else:  # what the decorators below do at run time that matters: nothing

    def overload(func: Callable[..., object]) -> Callable[..., object]:
        return func

    def dataclass_transform(**_kwargs: object) -> Callable[[Callable[..., object]], object]:
        return lambda func: func


class FrozenInstanceError(AttributeError):
    """An attribute of a frozen record was assigned or deleted."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """What :func:`field` says about one field; ``name`` is filled when the class is made."""

    __slots__ = ("default", "default_factory", "init", "name")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | None, init: bool) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(
    *, default: Any = MISSING, default_factory: Callable[[], Any] | None = None, init: bool = True
) -> Any:
    """A field with a default value, a factory called for each instance, or left out of
    ``__init__`` (``init=False``; then ``__post_init__`` usually sets it)."""
    if default is not MISSING and default_factory is not None:
        raise ValueError("a field cannot have both a default and a default_factory")
    return Field(default, default_factory, init)


def fields(obj: Any) -> tuple[Field, ...]:
    """The record's fields (class or instance), in order."""
    found: tuple[Field, ...] = obj.__record_fields__
    return found


def replace(obj: T, **changes: Any) -> T:
    """A new instance of ``obj``'s class with ``changes`` applied to its init fields."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj) if f.init}
    values.update(changes)
    return type(obj)(**values)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    # Fills the instance's __dict__ in a few dict operations rather than one setattr per field
    # (which also passes a frozen class's __setattr__): the browser makes some 850 records a
    # page, and this keeps each to about 2 us.
    cls = type(self)
    names: tuple[str, ...] = cls.__record_init_names__
    if len(args) > len(names):
        raise TypeError(f"{cls.__name__}() takes {len(names)} arguments but {len(args)} were given")
    given = dict(zip(names, args, strict=False))  # fewer args than fields: defaults
    if kwargs:
        _check_keywords(cls, names, given, kwargs)
        given.update(kwargs)
    for name in cls.__record_required__:
        if name not in given:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
    values = self.__dict__
    values.update(cls.__record_defaults__)
    for name, factory in cls.__record_factories__:
        if name not in given:
            values[name] = factory()
    values.update(given)
    post = getattr(self, "__post_init__", None)
    if post is not None:
        post()


def _check_keywords(
    cls: type, names: tuple[str, ...], given: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    for key in kwargs:
        if key not in names:
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {key!r}")
        if key in given:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {key!r}")


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in self.__record_fields__)


def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: object) -> Any:  # bool, or NotImplemented for another class
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


@overload
def record(cls: type[T], /) -> type[T]: ...


# ruff knows typing.overload only by its import, which the type checker alone sees (above)
@overload
def record(  # noqa: F811
    *, frozen: bool = False, eq: bool = True
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field,))
def record(  # noqa: F811
    cls: type[T] | None = None, /, *, frozen: bool = False, eq: bool = True
) -> type[T] | Callable[[type[T]], type[T]]:
    """Make ``cls`` a record (see the module's docstring); ``@record`` or ``@record(...)``."""

    def make(cls: type[T]) -> type[T]:
        inherited: tuple[Field, ...] = getattr(cls, "__record_fields__", ())
        own = []
        # not inspect.get_annotations: importing inspect is what this module avoids
        for name in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063
            value = cls.__dict__.get(name, MISSING)
            if isinstance(value, Field):
                spec = value
                if spec.default is MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, spec.default)
            else:
                spec = Field(value, None, True)
            spec.name = name
            own.append(spec)
        names = {f.name for f in own}
        all_fields = tuple(f for f in inherited if f.name not in names) + tuple(own)
        made: dict[str, Any] = {
            "__record_fields__": all_fields,
            "__record_init_names__": tuple(f.name for f in all_fields if f.init),
            "__record_required__": tuple(
                f.name
                for f in all_fields
                if f.init and f.default is MISSING and f.default_factory is None
            ),
            "__record_defaults__": {
                f.name: f.default for f in all_fields if f.default is not MISSING
            },
            "__record_factories__": tuple(
                (f.name, f.default_factory) for f in all_fields if f.default_factory is not None
            ),
        }
        if "__init__" not in cls.__dict__:  # a class may write its own, for speed
            made["__init__"] = _init
        if "__repr__" not in cls.__dict__:
            made["__repr__"] = _repr
        if eq and "__eq__" not in cls.__dict__:
            made["__eq__"] = _eq
            made["__hash__"] = _hash if frozen else None
        if frozen:
            made["__setattr__"] = _frozen_setattr
            made["__delattr__"] = _frozen_delattr
        for attribute, value in made.items():
            setattr(cls, attribute, value)
        return cls

    return make if cls is None else make(cls)
