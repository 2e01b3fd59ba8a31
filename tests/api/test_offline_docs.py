"""The API docs work offline (issue 9, item 11): ``/docs`` used to load Swagger UI's script
and style from a CDN, so on a co-op laptop without internet it was a blank page."""

from __future__ import annotations

import re


def test_swagger_ui_and_its_assets_come_from_the_app_itself(client):
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    html = r.text
    assert "cdn." not in html and "https://" not in html and "http://" not in html
    scripts = re.findall(r"""<script src=['"]([^'"]+)['"]""", html)
    styles = re.findall(r"""<link[^>]+href=['"]([^'"]+\.css)['"]""", html)
    assert scripts and styles
    for url in scripts + styles:
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 10_000, url
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_redoc_is_served_offline_too(client):
    r = client.get("/redoc")
    assert r.status_code == 200
    assert "https://" not in r.text and "http://" not in r.text
    js = re.findall(r"""<script src=['"]([^'"]+)['"]""", r.text)
    assert js and all(client.get(u).status_code == 200 for u in js)
