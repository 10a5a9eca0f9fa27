"""structs.record behaves as the dataclasses it replaced: init, defaults, repr, eq, frozen."""

from __future__ import annotations

import pytest

from socketlab.structs import FrozenInstanceError, field, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record(frozen=True)
class Frozen:
    name: str
    size: int = 1


@record(eq=False)
class Identity:
    value: int
    derived: int = field(init=False)

    def __post_init__(self) -> None:
        self.derived = self.value * 2


@record
class Written:
    a: int
    b: str = "b"

    def __init__(self, a: int, b: str = "b") -> None:
        self.a = a
        self.b = b


def test_init_takes_fields_by_position_and_keyword_with_defaults() -> None:
    assert (Point(1).x, Point(1).y, Point(1).tags) == (1, 0, [])
    assert Point(1, 2).y == 2
    assert Point(y=3, x=4) == Point(4, 3)
    assert Point(1).tags is not Point(1).tags  # a factory per instance, as default_factory


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing required argument: 'x'"),
        ((1, 2, [], 4), {}, "takes 3 arguments but 4 were given"),
        ((1,), {"z": 1}, "unexpected keyword argument 'z'"),
        ((1,), {"x": 2}, "multiple values for argument 'x'"),
    ],
)
def test_bad_arguments_are_type_errors(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)  # type: ignore[arg-type]


def test_repr_and_equality_are_field_by_field() -> None:
    assert repr(Point(1, 2, ["a"])) == "Point(x=1, y=2, tags=['a'])"
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    other: object = Frozen("1")
    assert Point(1) != other  # another class is never equal
    with pytest.raises(TypeError):
        hash(Point(1))  # eq without frozen: unhashable, as a dataclass


def test_frozen_refuses_assignment_and_hashes_its_values() -> None:
    item = Frozen("a")
    with pytest.raises(FrozenInstanceError):
        item.size = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del item.name
    assert hash(Frozen("a", 2)) == hash(Frozen("a", 2))
    assert {Frozen("a"), Frozen("a")} == {Frozen("a")}


def test_eq_false_keeps_identity_and_post_init_sets_init_false_fields() -> None:
    one, two = Identity(2), Identity(2)
    assert one != two  # equal values, yet two objects
    assert one == [one][0]
    assert one.derived == 4
    assert len({one, two}) == 2  # hashable, by identity
    assert [f.name for f in fields(one)] == ["value", "derived"]


def test_replace_copies_with_changes() -> None:
    item = Frozen("a", 3)
    assert replace(item, size=4) == Frozen("a", 4)
    assert item.size == 3
    assert replace(Identity(5)).derived == 10  # init=False fields come from __post_init__


def test_a_written_init_is_kept() -> None:
    assert Written.__dict__["__init__"].__qualname__ == "Written.__init__"
    assert Written(1) == Written(1, "b")
    assert repr(Written(2, "c")) == "Written(a=2, b='c')"


def test_a_field_default_stays_a_class_attribute_as_in_a_dataclass() -> None:
    assert Point.y == 0
    assert "tags" not in Point.__dict__  # a factory leaves no class attribute
