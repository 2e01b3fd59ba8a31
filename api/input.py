"""Input rules every request body obeys, the same on SQLite and PostgreSQL.

* **Finite numbers only**: ``NaN``, ``Infinity`` and numbers beyond the float range (``1e400``)
  are refused with a 422 naming the field (Python's JSON reader accepts them; nothing else does,
  and they cannot even be written back in an error answer).
* **No control characters** in any text (NUL and the other C0/C1 controls; tab, newline and
  carriage return are allowed): SQLite stored them where PostgreSQL refused them.
* **Strict numbers and booleans** (:func:`strict_scalar`, a validator of every request model):
  ``"3"``, ``true`` or ``"51.5"`` are not numbers, ``"yes"`` or ``1`` not a boolean.

:class:`StrictJSONRoute` applies the first two to every JSON body before FastAPI validates it;
:func:`validation_response` is the 422 answer of every validation error: FastAPI's list in
``detail`` (with non-finite inputs written as text) and ``errors`` as ``field: reason``.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
NOT_FINITE = "must be a finite number (NaN, Infinity and numbers beyond 1e308 are not accepted)"


def control_character_error(text: str) -> str | None:
    """The reason ``text`` is refused, or None when it holds no control character."""
    m = CONTROL.search(text)
    if m is None:
        return None
    return f"must not contain control characters (found U+{ord(m.group()):04X})"


def _walk(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str, Any]]:
    if isinstance(value, float) and not math.isfinite(value):
        yield path, NOT_FINITE, str(value)
    elif isinstance(value, str):
        reason = control_character_error(value)
        if reason:
            yield path, reason, value.encode("unicode_escape").decode("ascii")[:200]
    elif isinstance(value, dict):
        for k, v in value.items():
            reason = control_character_error(str(k))
            if reason:
                yield (*path, str(k).encode("unicode_escape").decode("ascii")), f"name {reason}", None
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*path, i))


def body_errors(body: Any) -> list[dict[str, Any]]:
    """Validation errors (FastAPI's shape) of every non-finite number and control character."""
    return [{"type": "value_error", "loc": ("body", *path), "msg": msg, "input": shown}
            for path, msg, shown in _walk(body, ())]


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is checked for non-finite numbers and control characters first."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            if "json" in request.headers.get("content-type", "") or (
                    request.method in ("POST", "PUT", "PATCH") and "content-type" not in request.headers):
                raw = await request.body()
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None   # FastAPI answers the decode error itself
                    errors = body_errors(body)
                    if errors:
                        raise RequestValidationError(errors, body=None)
            return await handler(request)

        return strict_handler


def _safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "coordinator", "email")`` → ``coordinator.email``; ``[0]`` for list items."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "form"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "body"


def _reason(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    if isinstance(err.get("input"), float) and not math.isfinite(err["input"]):
        return NOT_FINITE
    return msg.removeprefix("Value error, ")


def validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = [dict(e) for e in exc.errors()]
    for e in errors:
        e.pop("url", None)
        if "input" in e:
            e["input"] = _safe(e["input"])
        if "ctx" in e:
            e["ctx"] = {k: str(v) if isinstance(v, Exception) else _safe(v) for k, v in e["ctx"].items()}
    lines = [f"{field_name(e.get('loc', ()))}: {_reason(e)}" for e in errors]
    return JSONResponse({"detail": jsonable_encoder(errors), "errors": lines}, status_code=422)


# ----------------------------------------------------------------------------- strict scalars
def _kinds(annotation: Any) -> tuple[str | None, bool]:
    """(``"number"`` / ``"bool"`` / None, whether the annotation is a list of it)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _kinds(args[0]) if len(args) == 1 else (None, False)
    if origin is list:
        items = typing.get_args(annotation)
        kind, _ = _kinds(items[0]) if items else (None, False)
        return kind, True
    if annotation is bool:
        return "bool", False
    if annotation in (int, float):
        return "number", False
    return None, False


def _check_scalar(kind: str, value: Any) -> None:
    if kind == "number" and isinstance(value, bool | str):
        shown = "true or false" if isinstance(value, bool) else "text"
        raise ValueError(f"must be a number, not {shown} (write 3, not \"3\")")
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError("must be true or false")


def strict_scalar(annotation: Any, value: Any) -> Any:
    """Refuse strings and booleans for numbers, anything but true/false for booleans."""
    kind, is_list = _kinds(annotation)
    if kind is None or value is None:
        return value
    if is_list:
        if isinstance(value, list):
            for item in value:
                _check_scalar(kind, item)
        return value
    _check_scalar(kind, value)
    return value


# ----------------------------------------------------------------------------- the documented rule
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[1]
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _patterned(node: Any) -> None:
    """Give every plain string of a schema the no-control-characters pattern."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "pattern" not in node and "format" not in node \
                and "enum" not in node:
            node["pattern"] = TEXT_PATTERN
        for key, v in node.items():
            if key != "properties" or not isinstance(v, dict):
                _patterned(v)
            else:
                for prop in v.values():
                    _patterned(prop)
    elif isinstance(node, list):
        for v in node:
            _patterned(v)


def document_text_rule(schema: dict[str, Any]) -> dict[str, Any]:
    """State the control-character rule in the OpenAPI schema of every request body."""
    components = schema.get("components", {}).get("schemas", {})
    todo = [name for path in schema.get("paths", {}).values() for op in path.values()
            if isinstance(op, dict) for name in _refs(op.get("requestBody", {}))]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in components:
            continue
        seen.add(name)
        todo.extend(_refs(components[name]))
    for name in seen:
        _patterned(components[name])
    return schema
