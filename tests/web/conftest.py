"""Web page fixtures: one app on a SQLite file per test module, page clients that sign in
through the sign-in form (cookie session, CSRF) like a browser does.

The pages call the API's services, whose behaviour on PostgreSQL is tested by ``tests/api``;
the pages' own logic (sessions, CSRF, forms, rendering) does not depend on the database.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import make_settings

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(page: str) -> str:
    """The CSRF token a rendered page carries in its forms."""
    found = _CSRF.search(page)
    assert found, "the page has no form with a csrf_token"
    return html.unescape(found.group(1))


def sign_in(app: FastAPI, email: str, password: str = "password123") -> TestClient:
    """A client of its own (own cookie jar) signed in through the sign-in form."""
    c = TestClient(app, follow_redirects=False)
    r = c.get("/web/login")
    assert r.status_code == 200
    r = c.post("/web/login", data={"username": email, "password": password, "csrf_token": csrf_of(r.text),
                                   "next": ""})
    assert r.status_code == 303, r.text
    return c


def page_csrf(c: TestClient, path: str) -> str:
    r = c.get(path)
    assert r.status_code == 200, r.text
    return csrf_of(r.text)


@pytest.fixture(scope="module")
def web_app(tmp_path_factory) -> Iterator[FastAPI]:
    tmp = tmp_path_factory.mktemp("web")
    app = create_app(make_settings(f"sqlite:///{tmp / 'web.db'}", tmp))
    yield app
    app.state.pool.shutdown()
    app.state.engine.dispose()
    app.state.ledger.engine.dispose()


@pytest.fixture(scope="module")
def api_client(web_app) -> Iterator[TestClient]:
    with TestClient(web_app) as c:
        yield c
