"""The mini framework's templates: escaping by default, a small language, no evaluation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from socketlab.framework import Markup, Template, TemplateError, Templates, escape


def render(source: str, **values: Any) -> str:
    return str(Template(source).render(**values))


def test_values_are_escaped_by_default() -> None:
    out = render(
        '<p title="{{ t }}">{{ v }}</p>',
        v="<script>alert('x')</script> & co",
        t='" onmouseover="steal()',
    )
    assert out == (
        '<p title="&quot; onmouseover=&quot;steal()">'
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co</p>"
    )


def test_safe_and_markup_are_not_escaped_twice() -> None:
    assert render("{{ v|safe }}", v="<b>bold</b>") == "<b>bold</b>"
    assert render("{{ v }}", v=Markup("<i>x</i>")) == "<i>x</i>"
    assert render("{{ v }}", v=escape("<")) == "&lt;"


def test_none_renders_empty_and_filters_apply_in_order() -> None:
    assert render("[{{ v }}]", v=None) == "[]"
    assert render("{{ v|upper }} {{ items|length }}", v="<a>", items=[1, 2, 3]) == "&lt;A&gt; 3"


def test_dotted_lookup_in_mappings_sequences_and_objects() -> None:
    class User:
        name = "ada"
        _private = "hidden"

    out = render(
        "{{ d.key }} {{ seq.1 }} {{ user.name }}", d={"key": "k"}, seq=["a", "b"], user=User()
    )
    assert out == "k b ada"
    with pytest.raises(TemplateError, match="private"):
        Template("{{ user._private }}")
    with pytest.raises(TemplateError, match="private"):
        Template("{{ user.__class__ }}")


def test_if_elif_else_and_not() -> None:
    source = "{% if a %}A{% elif b %}B{% else %}C{% endif %}{% if not a %}!{% endif %}"
    assert render(source, a=1, b=0) == "A"
    assert render(source, a=0, b=1) == "B!"
    assert render(source, a=0, b=0) == "C!"


def test_for_with_unpacking_loop_and_else() -> None:
    source = (
        "{% for k, v in pairs %}{{ loop.index }}:{{ k }}={{ v }}"
        "{% if not loop.last %},{% endif %}{% else %}empty{% endfor %}"
    )
    assert render(source, pairs=[("a", "<1>"), ("b", "2")]) == "1:a=&lt;1&gt;,2:b=2"
    assert render(source, pairs=[]) == "empty"


def test_loop_variable_does_not_leak_out_of_the_loop() -> None:
    with pytest.raises(TemplateError, match="'x' is not defined"):
        render("{% for x in xs %}{% endfor %}{{ x }}", xs=[1])


def test_undefined_names_are_errors_with_the_line() -> None:
    with pytest.raises(TemplateError, match=r"page.html, line 3: 'missing' is not defined"):
        Template("a\nb\n{{ missing }}", "page.html").render()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 1 + 1 }}", "expected a name"),
        ("{{ x() }}", "expected a name"),
        ("{{ x|evil }}", "unknown filter 'evil'"),
        ("{% if x %}no end", r"\{% if %\} is never closed"),
        ("{% endfor %}", "outside of for"),
        ("{% else %}", "outside of if or for"),
        ("{% if a %}{% else %}{% elif b %}{% endif %}", "elif after else"),
        ("{% if a %}{% else %}{% else %}{% endif %}", "a second else"),
        ("{% import os %}", "unknown tag"),
        ("{% for in xs %}{% endfor %}", "expected 'for name in expression'"),
        ("{% include nothing %}", "expected include"),
    ],
)
def test_syntax_errors_name_the_problem(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        Template(source)


def test_comments_disappear() -> None:
    assert render("a{# not {{ shown }} #}b") == "ab"


def test_folder_templates_include_each_other(tmp_path: Path) -> None:
    (tmp_path / "_head.html").write_text("<h1>{{ title }}</h1>")
    (tmp_path / "page.html").write_text('{% include "_head.html" %}<p>{{ body }}</p>')
    templates = Templates(tmp_path)
    assert templates.render("page.html", title="<T>", body="b") == "<h1>&lt;T&gt;</h1><p>b</p>"


def test_self_include_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "loop.html").write_text('x{% include "loop.html" %}')
    with pytest.raises(TemplateError, match="nested deeper than 10"):
        Templates(tmp_path).render("loop.html")


@pytest.mark.parametrize(
    "name", ["../secret.html", "/etc/passwd", "a/../../b.html", "..", "a\\b.html", ""]
)
def test_template_names_cannot_leave_the_folder(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (tmp_path / "secret.html").write_text("secret")
    with pytest.raises(TemplateError):
        Templates(folder).get(name)


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (tmp_path / "secret.html").write_text("secret")
    (folder / "link.html").symlink_to(tmp_path / "secret.html")
    with pytest.raises(TemplateError, match="outside"):
        Templates(folder).get("link.html")


def test_edited_template_is_reparsed(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("one")
    templates = Templates(tmp_path)
    assert templates.render("p.html") == "one"
    page.write_text("two!")
    stat = page.stat()
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert templates.render("p.html") == "two!"
