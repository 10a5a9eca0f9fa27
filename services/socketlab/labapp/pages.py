"""The seed exercise's pages, each at its ``/name.py`` URL and at a clean one.

register and login are forms. What they receive is shown back -- escaped by the templates, so
``<script>`` typed into a field is displayed, never run. Nothing is stored: the lab has no
accounts, and a password is never echoed.
"""

from __future__ import annotations

import time

from ..framework import Request, Response
from .site import app, page

# The fields the register form has; anything else sent along is shown as "other fields".
REGISTER_FIELDS = ("firstname", "lastname", "email")


@app.route("/", "/index", "/index.py")
def index(request: Request) -> Response:
    return app.render("index.html", **page(request, "multiprocess-web", now=time.ctime()))


@app.route("/about", "/about.py")
def about(request: Request) -> Response:
    return app.render("about.html", **page(request, "About this server"))


@app.route("/contact", "/contact.py")
def contact(request: Request) -> Response:
    return app.render("contact.html", **page(request, "Contact"))


@app.route("/single", "/single.py")
def single(request: Request) -> Response:
    return app.render("single.html", **page(request, "From accept() to a worker"))


@app.route("/register", "/register.py", methods=("GET", "POST"))
def register(request: Request) -> Response:
    if request.method != "POST":
        return app.render("register.html", **page(request, "Register", now=time.ctime()))
    fields = request.form()
    known = [(name, value) for name, value in fields if name in REGISTER_FIELDS]
    others = [(name, value) for name, value in fields if name not in REGISTER_FIELDS]
    return app.render(
        "register_done.html",
        **page(
            request,
            "Registration received",
            fields=known,
            others=others,
            size=len(request.body()),
            content_type=request.content_type,
        ),
    )


@app.route("/login", "/login.py", methods=("GET", "POST"))
def login(request: Request) -> Response:
    if request.method != "POST":
        return app.render("login.html", **page(request, "Log in", now=time.ctime()))
    form = dict(request.form())
    return app.render(
        "login_done.html",
        **page(
            request,
            "Login received",
            user=form.get("user", ""),
            password_length=len(form.get("password", "")),
        ),
    )
