"""The pages in a real browser (headless Chromium driven by Selenium): the flows of issue 11,
each step asserting what the page shows.

Runs Debian's ``/usr/bin/chromium`` with ``/usr/bin/chromedriver`` (nothing is downloaded).
Without them the tests skip with the reason, unless ``CAREROTA_REQUIRE_BROWSER=1`` (set by
``.ci/run``), where they fail. Screenshots of each page go to ``CAREROTA_SCREENSHOTS`` (else
the test run's temporary folder).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from api.main import create_app
from api.models import Member, VisitTemplateCreate
from api.security import hash_password
from api.services import bank, clients
from api.services.demo import seed_demo, volunteer_week
from api.services.rotas import week_of
from scheduler.example import generate_problem
from tests.api.conftest import make_settings

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PASSWORD = "password123"
IMPOSSIBLE = "tracheostomy care"
PHONE = (390, 844)


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) and os.access(path, os.X_OK)):
            return f"{path} is missing (apt-get install -y chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("CAREROTA_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    reason = _browser_missing()
    if reason is not None:
        if os.environ.get("CAREROTA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CAREROTA_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


class Server:
    """The app served by uvicorn in a thread on a free port, with a count of the gift posts."""

    def __init__(self, app: Any):
        import uvicorn

        self.app = app
        self.gift_posts = 0

        @app.middleware("http")
        async def count_gifts(request, call_next):
            if request.method == "POST" and request.url.path == "/web/me/timebank/gift":
                self.gift_posts += 1
            return await call_next(request)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A demo co-op (the example week, volunteers on the social calls) for next week, plus one
    visit nobody can do; logins for the coordinator, every carer; 2 hours credited to each volunteer."""
    tmp = tmp_path_factory.mktemp("browser")
    app = create_app(make_settings(f"sqlite:///{tmp / 'browser.db'}", tmp, solve_time_limit=4.0))
    # start the solve process from this (long-lived) thread: a worker process dies with the
    # thread that started it (PR_SET_PDEATHSIG is per thread), and a request's thread may end
    # during a long first solve (the numba engine compiles on a cold cache)
    assert app.state.pool.executor.submit(os.getpid).result(timeout=120) > 0
    server = Server(app)
    today = app.state.clock().date()
    week = week_of(today) + dt.timedelta(days=7)
    problem = volunteer_week(generate_problem(clients=4, seed=3, week_start=week))
    with Session(app.state.engine, expire_on_commit=False) as s:
        coop, email, _ = seed_demo(s, problem, email_domain="browser.example", password=PASSWORD)
        query = select(Member).where(Member.coop_id == coop.id).order_by(col(Member.id))
        everyone = list(s.exec(query).all())
        coordinator = next(m for m in everyone if m.role == "coordinator")
        carers = [m for m in everyone if m.role in ("staff", "volunteer")]
        for m in carers:
            m.hashed_password = hash_password(PASSWORD)
            s.add(m)
        s.commit()
        first_client = clients.list_clients(s, coordinator)[0]
        clients.create_template(s, coordinator, first_client.id, VisitTemplateCreate(
            label=IMPOSSIBLE, days=[0], earliest_start="10:00", latest_start="11:00", duration_minutes=30,
            roles=[{"skills": ["tracheostomy_care"]}]))   # type: ignore[list-item]
        volunteers = [m for m in carers if m.role == "volunteer"]
        for v in volunteers:
            bank.account_of(app.state.ledger, v)
            app.state.ledger.credit_visit(str(coop.id), visit_id=f"browser-{v.id}", volunteer_ref=str(v.id),
                                          minutes=120, service_date=today, recorded_by="test")
    token = httpx.post(f"{server.url}/auth/token", data={"username": email, "password": PASSWORD}).json()
    yield {"app": app, "server": server, "week": week, "coordinator": email, "carers": carers,
           "volunteers": volunteers, "api": httpx.Client(base_url=server.url, headers={
               "Authorization": f"Bearer {token['access_token']}"}, timeout=30)}
    server.stop()
    app.state.pool.shutdown()


def _wait(driver: Any, seconds: float, condition: Any) -> Any:
    """Wait for ``condition``; on a timeout the failure says what the page showed."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.2, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException,
            # an element read while the page navigates: "node does not belong to the document"
            WebDriverException)).until(condition)
    except TimeoutException:
        shown = driver.find_element(By.TAG_NAME, "main").text[:2000] if driver.find_elements(
            By.TAG_NAME, "main") else driver.page_source[:2000]
        pytest.fail(f"timed out after {seconds} s at {driver.current_url}; the page shows:\n{shown}")


def _sign_in(driver: Any, url: str, email: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{url}/web/login")
    driver.find_element(By.ID, "username").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    _wait(driver, 45, lambda d: "/web/login" not in d.current_url)


def _shot(driver: Any, shots: Path, name: str) -> None:
    driver.save_screenshot(str(shots / f"{name}.png"))


def test_coordinator_solves_fixes_and_publishes_and_the_carer_sees_it_on_a_phone(driver, demo, shots):
    """The coordinator's whole week in the browser: solve, watch progress, read why a visit is
    unassigned, take a "who can cover" suggestion, be refused a move onto a carer without the
    skill (rota unchanged), publish; then a carer on a phone-sized window sees the visit."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    url, api, week = demo["server"].url, demo["api"], demo["week"]
    driver.set_window_size(1500, 1000)
    _sign_in(driver, url, demo["coordinator"])
    assert "/web/board" in driver.current_url
    _shot(driver, shots, "01-board-before-solve")

    # solve next week: the progress view, then the draft on the board
    week_field = driver.find_element(By.ID, "solve-week")
    assert week_field.get_attribute("value") == week.isoformat()
    driver.find_element(By.ID, "solve").click()
    _wait(driver, 45, lambda d: "/web/runs/" in d.current_url)
    status = driver.find_element(By.ID, "run-status").text
    assert status in ("queued", "running", "succeeded")
    _shot(driver, shots, "02-progress")
    _wait(driver, 300, lambda d: d.find_element(By.ID, "run-done").is_displayed())
    assert driver.find_element(By.ID, "run-status").text == "succeeded"
    assert driver.find_element(By.ID, "run-objective").text not in ("", "not yet")
    _shot(driver, shots, "03-progress-done")
    driver.find_element(By.ID, "open-draft").click()
    _wait(driver, 45, lambda d: d.find_elements(By.ID, "board"))
    rota_id = int(driver.find_element(By.ID, "board").get_attribute("data-rota"))
    rota = api.get(f"/rotas/{rota_id}").json()
    assert rota["status"] == "draft"
    planned = [v for v in rota["visits"] if v["status"] == "planned"]
    blocks = driver.find_elements(By.CSS_SELECTOR, "#board a.visit")
    assert len(blocks) == sum(len(v["carer_ids"]) for v in planned)
    driver.set_window_size(1500, 1700)
    _shot(driver, shots, "04-board")
    driver.set_window_size(1500, 1000)

    # an unassigned visit and its reason
    link = next(a for a in driver.find_elements(By.CSS_SELECTOR, "a.unassigned-link") if IMPOSSIBLE in a.text)
    link.click()
    reasons = _wait(driver, 45, lambda d: d.find_element(By.ID, "reasons")).text
    assert "tracheostomy_care" in reasons
    assert driver.find_element(By.ID, "cover").text   # the section answers (nobody can, here)
    _shot(driver, shots, "05-unassigned-visit")

    # who can cover a visit if its carer cannot come: take the first suggestion
    chosen = None
    for v in planned:
        if len(v["carer_ids"]) != 1:
            continue
        answer = api.get(f"/rotas/{rota_id}/visits/{v['id']}/cover",
                         params={"without": v["carer_ids"][0], "check": 3}).json()
        takeable = [o for o in answer["options"] if o["breaks"] == []]
        if takeable:
            chosen = (v, takeable[0])
            break
    assert chosen is not None, "some visit of the week can be covered by another carer as it is"
    visit, option = chosen
    driver.get(f"{url}/web/rotas/{rota_id}/visits/{visit['id']}")
    driver.find_element(By.CSS_SELECTOR, "a.without").click()
    _wait(driver, 30, lambda d: d.find_elements(By.CSS_SELECTOR, "button.take-option"))
    take = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button.take-option")
                if b.get_attribute("data-member") == str(option["member_id"]))
    _shot(driver, shots, "06-who-can-cover")
    take.click()
    _wait(driver, 45, lambda d: "the change is saved" in d.find_element(By.TAG_NAME, "main").text)
    taken = next(v for v in api.get(f"/rotas/{rota_id}").json()["visits"] if v["id"] == visit["id"])
    assert taken["carer_ids"] == option["carer_ids"]
    assert driver.find_elements(By.ID, f"visit-{visit['id']}-{option['member_id']}")

    # drag a visit onto a carer who lacks its skill: refused, the rule named, nothing saved
    before = api.get(f"/rotas/{rota_id}").json()
    problem = api.get(f"/rotas/{rota_id}/problem").json()
    skills = {c["id"]: set(c.get("skills", [])) for c in problem["carers"] if c["kind"] == "staff"}
    needs = {pv["id"]: {s for r in pv.get("roles", []) for s in r.get("skills", [])}
             for pv in problem["visits"]}
    move = next((v, int(c[1:])) for v in before["visits"]
                if v["status"] == "planned" and len(v["carer_ids"]) == 1
                for c in sorted(skills) if needs[v["key"]] - skills[c] and int(c[1:]) not in v["carer_ids"])
    v, target = move
    block = driver.find_element(By.ID, f"visit-{v['id']}-{v['carer_ids'][0]}")
    cell = driver.find_element(By.CSS_SELECTOR,
                               f'td.cell[data-carer="{target}"][data-day="{v["start"][:10]}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'});", block)
    ActionChains(driver).click_and_hold(block).move_by_offset(8, 8).move_to_element(cell).pause(0.2) \
        .release(cell).perform()
    errors = _wait(driver, 45, lambda d: d.find_element(By.ID, "move-errors")).text
    assert "roles_and_skills" in errors and "lacks" in errors
    assert "refused" in driver.find_element(By.ID, "move-result").text
    _shot(driver, shots, "07-refused-move")
    assert api.get(f"/rotas/{rota_id}").json() == before
    assert driver.find_elements(By.ID, f"visit-{v['id']}-{v['carer_ids'][0]}")

    # drag a visit onto the time line of its own carer's day: the start changes, checked
    _drag_to_a_new_start(driver, api, rota_id, shots)

    # publish
    driver.find_element(By.ID, f"publish-{rota_id}").click()
    _wait(driver, 45, lambda d: "is published" in d.find_element(By.TAG_NAME, "main").text)
    assert api.get(f"/rotas/{rota_id}").json()["status"] == "published"

    # the carer of that visit, on a phone-sized window, sees it in their week
    carer = next(m for m in demo["carers"] if m.id == v["carer_ids"][0])
    driver.set_window_size(*PHONE)
    _sign_in(driver, url, carer.email)
    assert "/web/me/week" in driver.current_url
    item = driver.find_element(By.ID, f"my-visit-{v['id']}")
    client_name = next(c["name"] for c in problem["clients"] if c["id"] == f"c{v['client_id']}")
    assert client_name in item.text and v["start"][11:16] in item.text
    assert driver.find_element(By.ID, "calendar-link").get_attribute("href").endswith(".ics")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= PHONE[0] + 1
    _shot(driver, shots, "08-carer-week-phone")
    driver.get(f"{url}/web/me/day?day={v['start'][:10]}")
    assert driver.find_element(By.ID, "day-map").is_displayed()
    assert "minutes" in driver.find_element(By.ID, "travel-total").text
    _shot(driver, shots, "09-carer-day-map-phone")


def _movable(api: Any, rota_id: int) -> tuple[dict, int, int]:
    """A planned one-carer visit whose start can move by up to 10 minutes either way around a
    new start (kept by the checker at every such minute: the pointer lands to about 7 minutes),
    with that new start (minutes of the day) and the shift."""
    from scheduler.checker import check
    from scheduler.problem import problem_from_dict
    from scheduler.rota import Assignment, rota_from_dict

    problem = problem_from_dict(api.get(f"/rotas/{rota_id}/problem").json())
    stored = api.get(f"/rotas/{rota_id}/file").json()
    rota = api.get(f"/rotas/{rota_id}").json()

    def ok(key: str, carers: tuple[str, ...], start: int) -> bool:
        r = rota_from_dict(stored, problem)
        r.assignments = [a for a in r.assignments if a.visit != key] + [Assignment(key, carers, start)]
        return all(v.rule in ("objective", "kpis") for v in check(problem, r).violations)

    for v in rota["visits"]:
        if v["status"] != "planned" or len(v["carer_ids"]) != 1:
            continue
        a = next(x for x in rota_from_dict(stored, problem).assignments if x.visit == v["key"])
        for shift in (20, -20, 25, -25, 30, -30):
            centre = a.start + shift
            if all(ok(v["key"], a.carers, centre + d) for d in range(-10, 11, 5)):
                start = dt.datetime.fromisoformat(v["start"]) + dt.timedelta(minutes=shift)
                return v, start.hour * 60 + start.minute, shift
    raise AssertionError("no visit of the demo week can move its start by 20-30 minutes")


def _drag_to_a_new_start(driver: Any, api: Any, rota_id: int, shots: Path) -> None:
    """Drag a block onto the time line of its own day: the time shown while hovering is the
    start the checked hand edit saves; every other visit keeps its start and carers."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    before = api.get(f"/rotas/{rota_id}").json()
    v, minute, _shift = _movable(api, rota_id)
    board = driver.find_element(By.ID, "board")
    day_from, day_to = int(board.get_attribute("data-day-from")), int(board.get_attribute("data-day-to"))
    block = driver.find_element(By.ID, f"visit-{v['id']}-{v['carer_ids'][0]}")
    ruler = driver.find_element(By.CSS_SELECTOR, f'td.cell[data-carer="{v["carer_ids"][0]}"]'
                                                 f'[data-day="{v["start"][:10]}"] div.ruler')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'});", block)
    width = ruler.size["width"]
    x = round((minute - day_from) / (day_to - day_from) * width - width / 2)
    chain = ActionChains(driver).click_and_hold(block).move_by_offset(8, 8)
    chain.move_to_element_with_offset(ruler, x, 0).pause(0.3).perform()
    shown = ruler.get_attribute("data-time")
    assert shown and abs(int(shown[:2]) * 60 + int(shown[3:]) - minute) <= 10, (shown, minute)
    _shot(driver, shots, "07b-drop-on-the-time-line")
    ActionChains(driver).release().perform()

    def reloaded(d: Any) -> bool:   # the saved change reloads the board; a refusal would not
        try:
            board.get_attribute("id")
            return False
        except StaleElementReferenceException:
            return True

    _wait(driver, 45, reloaded)
    _wait(driver, 45, lambda d: "the change is saved" in d.find_element(By.TAG_NAME, "main").text)
    after = api.get(f"/rotas/{rota_id}").json()
    moved = next(x for x in after["visits"] if x["id"] == v["id"])
    assert moved["start"][:16] == f"{v['start'][:10]}T{shown}" and moved["carer_ids"] == v["carer_ids"]
    rest = {x["id"]: (x["start"], x["carer_ids"]) for x in after["visits"] if x["id"] != v["id"]}
    assert rest == {x["id"]: (x["start"], x["carer_ids"]) for x in before["visits"] if x["id"] != v["id"]}
    assert driver.find_element(By.ID, f"visit-{v['id']}-{v['carer_ids'][0]}").get_attribute(
        "data-start") == moved["start"][:16]


def test_a_volunteers_double_click_on_give_gives_once(driver, demo, shots):
    """Every post of one rendered gift form (a double click, a resend) carries its one
    Idempotency-Key: the balance falls once; a newly rendered form gives again."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, server = demo["server"].url, demo["server"]
    giver, other = demo["volunteers"][0], next(m for m in demo["carers"] if m.id != demo["volunteers"][0].id)
    driver.set_window_size(*PHONE)
    _sign_in(driver, url, giver.email)
    driver.get(f"{url}/web/me/timebank")
    assert driver.find_element(By.ID, "balance").get_attribute("data-minutes") == "120"
    to = Select(driver.find_element(By.ID, "to"))
    # the recipient is picked by name, among the co-op's members a gift may go to
    assert other.full_name in [o.text for o in to.options]
    to.select_by_visible_text(other.full_name)
    driver.find_element(By.ID, "gift-minutes").send_keys("30")
    _shot(driver, shots, "10-timebank")
    posts = server.gift_posts
    # Chrome sends one request for a double click on a plain form, so the test also sends the
    # same rendered form once more from the page (as a slow network's double submit does)
    # before the double click: the server sees the one key at least twice.
    status = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const form = new FormData(document.getElementById('gift-form'));
        fetch('/web/me/timebank/gift', {method: 'POST', body: form, credentials: 'same-origin',
                                        redirect: 'manual'})
          .then(r => done(r.type === 'opaqueredirect' ? 303 : r.status)).catch(e => done(String(e)));""")
    assert status == 303
    ActionChains(driver).double_click(driver.find_element(By.ID, "gift-submit")).perform()
    _wait(driver, 45, lambda d: "you gave" in d.find_element(By.TAG_NAME, "main").text)
    assert "already sent: given once" in driver.find_element(By.ID, "message").text
    time.sleep(0.5)   # let a further post of the double click, if the browser sent one, finish
    assert server.gift_posts - posts >= 2
    driver.get(f"{url}/web/me/timebank")
    assert driver.find_element(By.ID, "balance").get_attribute("data-minutes") == "90"
    _shot(driver, shots, "11-timebank-after-gift")
    # a new rendering is a new form: a second gift does give again
    Select(driver.find_element(By.ID, "to")).select_by_value(str(other.id))
    driver.find_element(By.ID, "gift-minutes").send_keys("15")
    driver.find_element(By.ID, "gift-submit").click()
    _wait(driver, 45, lambda d: d.find_element(By.ID, "balance").get_attribute("data-minutes") == "75")
    assert "already sent" not in driver.find_element(By.ID, "message").text


def copy_for_readme(shots: Path, docs: Path) -> None:   # pragma: no cover - a maintainer's helper
    for name in ("04-board", "08-carer-week-phone"):
        shutil.copy(shots / f"{name}.png", docs / f"{name}.png")
