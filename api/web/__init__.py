"""The rota board: server-rendered pages (Jinja2, a little plain JavaScript) for coordinators,
carers, volunteers and families, served by the API's own app under ``/web``.

Pages sign in with the same password check as ``POST /auth/token`` and keep the same access
token in an HttpOnly, SameSite=Lax cookie, with a per-session CSRF token (a claim of that
signed token) checked on every form post. Every page calls the existing services
(``api.services``) through :mod:`api.web.views`, so the API and the pages answer the same
question the same way, authorization included. ``install(app)`` mounts it all.
"""

from __future__ import annotations

from api.web.app import install

__all__ = ["install"]
