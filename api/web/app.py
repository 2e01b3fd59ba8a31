"""The pages' routes (``/web/...``): each one signs the member in from the session cookie,
checks the CSRF token on a post, makes one call (a service of ``api.services`` or a view of
:mod:`api.web.views` that reads through them) and renders a template.

Routes are left out of the OpenAPI schema: the API's contract stays the JSON endpoints.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.deps import PathId, SessionDep, get_ledger, get_now, get_pool
from api.errors import Invalid, ServiceError
from api.models import (
    ERROR_RESPONSES,
    AssignmentChange,
    CheckOut,
    DonationCreate,
    GiftCreate,
    Member,
    RotaRequest,
    role_of,
)
from api.ratelimit import limit_login, limit_writes
from api.services import bank, members, rotas, runs, visits
from api.services.rotas import week_of
from api.web import cover, views
from api.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Anyone,
    Carer,
    Coordinator,
    CsrfFailed,
    LoginRequired,
    PageForbidden,
    PostAnyone,
    PostCoordinator,
    WebUser,
    session_token,
    set_session_cookie,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["minutes_text"] = views.minutes_text
templates.env.globals["timedelta"] = dt.timedelta
templates.env.filters["hhmm"] = lambda d: d.strftime("%H:%M") if d else "-"
templates.env.filters["day"] = lambda d: d.strftime(views.DAY_FORMAT) if d else "-"

router = APIRouter(prefix="/web", include_in_schema=False, dependencies=[Depends(limit_writes)])
Now = Annotated[dt.datetime, Depends(get_now)]
Ledger = Annotated[Any, Depends(get_ledger)]
Pool = Annotated[Any, Depends(get_pool)]
HOME = {"coordinator": "/web/board", "staff": "/web/me/week", "volunteer": "/web/me/week",
        "client": "/web/coming", "family": "/web/coming"}


def render(request: Request, name: str, user: WebUser | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    nav = {"federation_link": user is not None and user.federation_link}
    return templates.TemplateResponse(request, name, {"user": user, **nav, **context},
                                      status_code=status_code)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _safe_next(target: str | None, fallback: str) -> str:
    """Only a path of this site's pages (no scheme, no other host) is followed after sign-in."""
    if target and target.startswith("/web/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


def _field_errors(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"] if p != "__root__") or "form"
        msg = str(e["msg"]).removeprefix("Value error, ")
        out.append(msg if ":" in msg.split(" ")[0] else f"{loc}: {msg}")
    return out


def _datetime(value: str, name: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{name}: not a date and time like 2026-12-07T08:30", [
            f"{name}: not a date and time like 2026-12-07T08:30"]) from None
    return when.replace(second=0, microsecond=0)


def _member_ids(values: list[str], name: str) -> list[int]:
    out, errors = [], []
    for i, raw in enumerate(values):
        raw = raw.strip()
        if not raw:
            continue
        if not raw.isdigit() or not 1 <= int(raw) <= 2_147_483_647:
            errors.append(f"{name}[{i}]: {raw!r} is not a member number")
        else:
            out.append(int(raw))
    if errors:
        raise Invalid("the form is not valid", errors)
    return out


# ----------------------------------------------------------------------------- sign in
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    csrf = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, next=next or "", csrf=csrf, error=None)
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, max_age=3600, path="/web/login", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(limit_login)])
def login(request: Request, session: SessionDep, username: Annotated[str, Form(max_length=254)] = "",
          password: Annotated[str, Form(max_length=200)] = "",
          csrf_token: Annotated[str, Form(max_length=100)] = "",
          next: Annotated[str, Form(max_length=500)] = "") -> Response:
    """The password check of ``POST /auth/token``; the token goes into an HttpOnly cookie."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return render(request, "login.html", None, status_code=403, next=next, csrf=expected or "",
                      error="csrf_token: the sign-in form expired or came from another site; "
                            "reload the page and try again")
    if not username.strip() or not password:
        return render(request, "login.html", None, status_code=422, next=next, csrf=expected,
                      error="username: give your e-mail and password")
    try:
        member = members.authenticate(session, username, password)
    except ServiceError as exc:
        return render(request, "login.html", None, status_code=exc.status_code, next=next, csrf=expected,
                      error=exc.message)
    minutes = request.app.state.settings.access_token_minutes
    token, _csrf = session_token(request, member, minutes)
    response = RedirectResponse(_safe_next(next, HOME[str(role_of(member))]), status_code=303)
    set_session_cookie(request, response, token, minutes)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/web/login")
    return response


@router.post("/logout")
def logout(user: PostAnyone) -> Response:
    response = RedirectResponse("/web/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(user: Anyone) -> Response:
    return RedirectResponse(HOME[user.role], status_code=303)


# ----------------------------------------------------------------------------- coordinator
@router.get("/board", response_class=HTMLResponse)
def board_page(request: Request, user: Coordinator, session: SessionDep, now: Now,
               week_start: dt.date | None = None, rota_id: Annotated[int | None, Query(ge=1)] = None,
               carer: Annotated[int | None, Query(ge=1)] = None,
               client: Annotated[int | None, Query(ge=1)] = None,
               day: Annotated[int | None, Query(ge=0, le=6)] = None,
               area: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """The week board: carers by days, the unassigned visits with reasons, the KPIs."""
    if week_start is not None and week_start.weekday() != 0:
        raise Invalid("week_start: must be a Monday", ["week_start: must be a Monday"])
    week = week_start or views.default_week(session, user.member, now.date())
    data = views.board(session, user.member, week, rota_id, carer, client, day, area or None)
    return render(request, "board.html", user, b=data, next_week=week_of(now.date()) + dt.timedelta(days=7),
                  message=request.query_params.get("message"))


@router.post("/board/solve")
def solve_week(request: Request, user: PostCoordinator, session: SessionDep, pool: Pool,
               week_start: Annotated[str, Form(max_length=20)] = "") -> Response:
    """Solve a week (``POST /rotas``) and open its progress view."""
    try:
        req = RotaRequest(week_start=week_start)   # type: ignore[arg-type]
    except ValidationError as exc:
        raise Invalid("the form is not valid", _field_errors(exc)) from None
    accepted = runs.request_run(session, pool, user.member, req, request.app.state.settings)
    return RedirectResponse(f"/web/runs/{accepted.run_id}", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: PathId, user: Coordinator, session: SessionDep) -> Response:
    return render(request, "run.html", user, run=runs.get_run(session, user.member, run_id))


@router.get("/runs/{run_id}/status")
def run_status(run_id: PathId, user: Coordinator, session: SessionDep) -> JSONResponse:
    """The run as ``GET /runs/{id}`` has it, for the progress view's polling."""
    run = runs.get_run(session, user.member, run_id)
    if run.status == "succeeded" and run.rota_id is not None:
        cover.prebuild(session, run.rota_id)   # the draft's "who can cover this?", built ahead
    body = run.model_dump(mode="json", exclude={"unassigned"})
    body["unassigned_count"] = len(run.unassigned)
    return JSONResponse(body)


@router.post("/rotas/{rota_id}/publish")
def publish(rota_id: PathId, user: PostCoordinator, session: SessionDep) -> Response:
    rota = rotas.publish(session, user.member, rota_id)
    query = urlencode({"week_start": rota.week_start.isoformat(),
                       "message": f"version {rota.version} is published"})
    return RedirectResponse(f"/web/board?{query}", status_code=303)


@router.get("/rotas/{rota_id}/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(request: Request, rota_id: PathId, visit_id: PathId, user: Coordinator,
               session: SessionDep, without: Annotated[list[int], Query(max_length=4)] = []  # noqa: B006
               ) -> Response:
    """A visit: its window, carers, lateness, reasons when unassigned, who can cover it, and
    the move form."""
    page = views.visit_page(session, user.member, rota_id, visit_id, without)
    return render(request, "visit.html", user, p=page, errors=[], message=None)


@router.post("/rotas/{rota_id}/visits/{visit_id}/move")
def move_visit(request: Request, rota_id: PathId, visit_id: PathId, user: PostCoordinator,
               session: SessionDep, carer_ids: Annotated[list[str], Form()],
               start: Annotated[str, Form(max_length=40)]) -> Response:
    """A hand edit through ``PUT /rotas/{id}/visits/{visit_id}/assignment``'s service: checked by
    the checker, refused as a whole with every broken rule named, else saved."""
    try:
        ids = _member_ids(carer_ids, "carer_ids")
        when = _datetime(start, "start")
        change = AssignmentChange(carer_ids=ids, start=when)
        moved = rotas.change_assignment(session, user.member, rota_id, visit_id, change)
    except ValidationError as exc:
        return _refused(request, user, session, rota_id, visit_id, 422, "the form is not valid",
                        _field_errors(exc))
    except ServiceError as exc:
        return _refused(request, user, session, rota_id, visit_id, exc.status_code, exc.message,
                        exc.errors or [exc.message])
    week = moved.start.date() - dt.timedelta(days=moved.start.weekday()) if moved.start else None
    if wants_json(request):
        return JSONResponse({"ok": True, "rota_id": moved.rota_id, "visit_id": moved.id})
    query = urlencode({"week_start": week.isoformat() if week else "", "rota_id": moved.rota_id,
                       "message": "the change is saved"})
    return RedirectResponse(f"/web/board?{query}", status_code=303)


def _refused(request: Request, user: WebUser, session: SessionDep, rota_id: int, visit_id: int,
             status: int, message: str, errors: list[str]) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": False, "detail": message, "errors": errors}, status_code=status)
    page = views.visit_page(session, user.member, rota_id, visit_id)
    return render(request, "visit.html", user, status_code=status, p=page, errors=errors, message=message)


# ----------------------------------------------------------------------------- carers
@router.get("/me/week", response_class=HTMLResponse)
def my_week(request: Request, user: Carer, session: SessionDep, now: Now,
            week_start: dt.date | None = None) -> Response:
    """The carer's week (``GET /me/rota``), their calendar link and check-out forms."""
    week, days = views.carer_week(session, user.member, week_start, now.date())
    feed = views.calendar_url(request, user.member, request.app.state.settings.calendar_token_days)
    return render(request, "week.html", user, week=week, days=days, feed=feed, now=now,
                  message=request.query_params.get("message"))


@router.get("/me/day", response_class=HTMLResponse)
def my_day(request: Request, user: Carer, session: SessionDep, now: Now, day: dt.date | None = None
           ) -> Response:
    """The carer's day on a drawn map, with the travel minutes between visits."""
    return render(request, "day.html", user, m=views.carer_day(session, user.member, day or now.date()))


@router.post("/visits/{visit_id}/complete")
def check_out(visit_id: PathId, user: PostAnyone, session: SessionDep, ledger: Ledger, now: Now,
              actual_start: Annotated[str, Form(max_length=40)] = "",
              actual_end: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Check out (``POST /visits/{id}/complete``: the carers on the visit and coordinators, as the
    API); empty times mean the planned ones."""
    try:
        data = CheckOut(actual_start=_datetime(actual_start, "actual_start") if actual_start else None,
                        actual_end=_datetime(actual_end, "actual_end") if actual_end else None)
    except ValidationError as exc:
        raise Invalid("the form is not valid", _field_errors(exc)) from None
    done = visits.complete_visit(session, ledger, user.member, visit_id, data, now)
    week = week_of(done.start.date()) if done.start else None
    query = urlencode({"week_start": week.isoformat() if week else "",
                       "message": f"'{done.label}' is checked out"})
    return RedirectResponse(f"/web/me/week?{query}", status_code=303)


# ----------------------------------------------------------------------------- time bank
@router.get("/me/timebank", response_class=HTMLResponse)
def my_timebank(request: Request, user: Anyone, session: SessionDep, ledger: Ledger, now: Now) -> Response:
    """Balance, statement by month and the gift form (``GET /me/timebank``): the recipient is
    picked by name from those ``POST /timebank/gifts`` would accept."""
    return _timebank(request, user, ledger, now, 200, [], request.query_params.get("message"),
                     session=session)


def _timebank(request: Request, user: WebUser, ledger: Any, now: dt.datetime, status: int,
              errors: list[str], message: str | None, form: dict[str, str] | None = None,
              session: Any = None) -> Response:
    statement, months = views.timebank(ledger, user.member, now.date())
    recipients = views.gift_recipients(session, user.member) if session is not None else []
    # a new key for every rendered form: a double click sends one key twice, so it gives once
    return render(request, "timebank.html", user, status_code=status, st=statement, months=months,
                  key=secrets.token_urlsafe(18), errors=errors, message=message, form=form or {},
                  recipients=recipients, groups=views.RECIPIENT_GROUPS)


@router.post("/me/timebank/gift")
def gift(request: Request, user: PostAnyone, session: SessionDep, ledger: Ledger, now: Now,
         to_member_id: Annotated[str, Form(max_length=20)] = "",
         minutes: Annotated[str, Form(max_length=20)] = "",
         note: Annotated[str, Form(max_length=500)] = "",
         idempotency_key: Annotated[str, Form(max_length=200)] = "") -> Response:
    """A gift (``POST /timebank/gifts``), or a donation to the pot (``POST /timebank/donations``)
    when the recipient is ``pot``, with the form's own Idempotency-Key."""
    form = {"to_member_id": to_member_id, "minutes": minutes, "note": note}
    errors = []
    to_pot = to_member_id.strip() == "pot"
    if not to_pot and not to_member_id.strip().isdigit():
        errors.append("to_member_id: choose the person you give to, or the pot")
    if not minutes.strip().isdigit():
        errors.append("minutes: a whole number of minutes, e.g. 60")
    if errors:
        return _timebank(request, user, ledger, now, 422, errors, None, form, session)
    try:
        if to_pot:
            done = bank.donate(ledger, user.member, DonationCreate(minutes=int(minutes), note=note or None),
                               idempotency_key)
        else:
            data = GiftCreate(to_member_id=int(to_member_id), minutes=int(minutes), note=note or None)
            done = bank.transfer(session, ledger, user.member, "gift", data, idempotency_key)
    except ValidationError as exc:
        return _timebank(request, user, ledger, now, 422, _field_errors(exc), None, form, session)
    except ServiceError as exc:
        return _timebank(request, user, ledger, now, exc.status_code, exc.errors or [exc.message], None,
                         form, session)
    # checked by the transfer: in the giver's co-op
    to = session.get(Member, done.to_member_id) if done.to_member_id is not None else None
    name = "the community pot" if to_pot else to.full_name if to else "them"
    message = (f"you gave {views.minutes_text(done.minutes)} to {name}"
               + (" (this form was already sent: given once)" if done.replayed else ""))
    return RedirectResponse(f"/web/me/timebank?message={quote(message)}", status_code=303)


# ----------------------------------------------------------------------------- clients, family
@router.get("/coming", response_class=HTMLResponse)
def coming(request: Request, user: Anyone, session: SessionDep, now: Now, week_start: dt.date | None = None,
           client_id: Annotated[int | None, Query(ge=1)] = None) -> Response:
    """Who is coming when, for the clients the member may see (``GET /clients/{id}/visits``)."""
    if week_start is not None and week_start.weekday() != 0:
        raise Invalid("week_start: must be a Monday", ["week_start: must be a Monday"])
    week = week_start or week_of(now.date())
    visible, weeks = views.coming(session, user.member, week, client_id)
    return render(request, "coming.html", user, week=week, visible=visible, weeks=weeks,
                  client_id=client_id, prev=week - dt.timedelta(days=7), next=week + dt.timedelta(days=7))


# ----------------------------------------------------------------------------- federation
@router.get("/federation", response_class=HTMLResponse)
def federation_page(request: Request, user: Anyone, session: SessionDep, ledger: Ledger, now: Now,
                    start: dt.date | None = None, end: dt.date | None = None) -> Response:
    """The co-op's federation: for an officer the member co-ops with limits and positions and the
    federal view (``GET /federations/{id}``, ``.../view``); for a coordinator their co-op's
    position, limit and statement (``.../statement``); anyone else a 403, as the API."""
    page = views.federation_page(session, ledger, user.member, start, end, now.date())
    period = urlencode({k: v.isoformat() for k, v in (("start", start), ("end", end)) if v})
    return render(request, "federation.html", user, f=page, start=start, end=end,
                  q=f"?{period}" if period else "")


@router.get("/federation/view.csv")
def federation_view_csv(user: Anyone, session: SessionDep, ledger: Ledger, now: Now,
                        start: dt.date | None = None, end: dt.date | None = None) -> Response:
    """The federal view as CSV (``GET /federations/{id}/view.csv``), with the page's session."""
    body, media, name = views.federation_view_export(session, ledger, user.member, start, end,
                                                     now.date(), "csv")
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/federation/view.png")
def federation_view_png(user: Anyone, session: SessionDep, ledger: Ledger, now: Now,
                        start: dt.date | None = None, end: dt.date | None = None) -> Response:
    """The federal view's chart (``GET /federations/{id}/view.png``), with the page's session."""
    body, media, _name = views.federation_view_export(session, ledger, user.member, start, end,
                                                      now.date(), "png")
    return Response(body, media_type=media)


# ----------------------------------------------------------------------------- mounting
def install(app: FastAPI) -> None:
    """Mount the pages, their static assets and their error pages on ``app`` (after the API's
    own exception handlers are registered: the pages' handler delegates to them off ``/web``)."""
    app.include_router(router)
    app.include_router(cover.router, responses=ERROR_RESPONSES)
    app.mount("/web/static", StaticFiles(directory=str(HERE / "static")), name="web-static")
    cover.start_warm_up()
    api_handler = app.exception_handlers.get(ServiceError)

    async def service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        if not request.url.path.startswith("/web/") or wants_json(request):
            if api_handler is None:
                return JSONResponse({"detail": exc.message, "errors": exc.errors},
                                    status_code=exc.status_code)
            return await api_handler(request, exc)  # type: ignore[no-any-return,misc]
        return render(request, "error.html", None, status_code=exc.status_code, message=exc.message,
                      errors=exc.errors)

    async def login_required(request: Request, exc: Exception) -> Response:
        if wants_json(request) or request.method != "GET":
            return JSONResponse({"detail": "not signed in, or the session expired: sign in again"},
                                status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/web/login?next={quote(target)}", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        message = exc.message if isinstance(exc, PageForbidden) else str(exc)
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=403)
        return render(request, "error.html", None, status_code=403, message=message, errors=[])

    async def csrf_failed(request: Request, exc: Exception) -> Response:
        message = "csrf_token: missing or not this session's; reload the page and try again"
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=403)
        return render(request, "error.html", None, status_code=403, message=message, errors=[])

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(PageForbidden, forbidden)
    app.add_exception_handler(CsrfFailed, csrf_failed)
