"""The iCalendar feed is valid RFC 5545 (issue 9, item 10): its local times name
``TZID=Europe/London``, so the feed must define that zone in a VTIMEZONE, which it lacked."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from icalendar import Calendar

from tests.api.conftest import FUTURE_MONDAY, solved_rota

REQUIRED = {"VCALENDAR": {"PRODID", "VERSION"}, "VEVENT": {"UID", "DTSTAMP", "DTSTART"},
            "VTIMEZONE": {"TZID"}, "STANDARD": {"DTSTART", "TZOFFSETFROM", "TZOFFSETTO"},
            "DAYLIGHT": {"DTSTART", "TZOFFSETFROM", "TZOFFSETTO"}}


def strict_parse(body: bytes) -> Calendar:
    """Parse as RFC 5545 and fail on anything a strict reader would refuse: a line not ended
    by CRLF or longer than 75 octets, a property the parser could not read, a required property
    missing, or a TZID used without its VTIMEZONE."""
    assert body.endswith(b"\r\n")
    for line in body.split(b"\r\n")[:-1]:
        assert b"\n" not in line and b"\r" not in line, line
        assert len(line) <= 75, line
    cal = Calendar.from_ical(body)
    for comp in cal.walk():
        assert comp.errors == [], (comp.name, comp.errors)
        missing = REQUIRED.get(comp.name, set()) - set(comp.keys())
        assert not missing, (comp.name, missing)
    assert cal.get_missing_tzids() == set()
    return cal


def test_the_calendar_feed_defines_europe_london_in_a_vtimezone_a_strict_parser_accepts(
        app, client, coop_a):
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    staff_id = coop_a.members["staff"]["id"]
    mine = [v for v in rota["visits"] if staff_id in v["carer_ids"] and v["status"] == "planned"]
    assert mine
    token = client.get("/me/calendar-link", headers=coop_a.h("staff")).json()["token"]
    feed = client.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200
    cal = strict_parse(feed.content)
    zones = {str(z["TZID"]): z for z in cal.walk("VTIMEZONE")}
    assert set(zones) == {"Europe/London"} == cal.get_used_tzids()
    london = ZoneInfo("Europe/London")
    # the VTIMEZONE alone gives every event its true instant (as the zone database does)
    defined = zones["Europe/London"].to_tz()
    events = cal.walk("VEVENT")
    assert len(events) == len(mine)
    for ev in events:
        start = ev["DTSTART"]
        assert start.params["TZID"] == "Europe/London"
        local = start.dt.replace(tzinfo=None)
        assert local.replace(tzinfo=defined).utcoffset() == local.replace(tzinfo=london).utcoffset()
    # and it is right on every day of the feed's span, across BST and GMT changes
    now = app.state.clock()
    kinds = {c.name for c in zones["Europe/London"].subcomponents}
    day = now - dt.timedelta(days=14)
    while day <= now + dt.timedelta(days=70):
        noon = day.replace(hour=12, minute=0)
        assert noon.replace(tzinfo=defined).utcoffset() == noon.replace(tzinfo=london).utcoffset(), noon
        day += dt.timedelta(days=1)
    assert kinds <= {"STANDARD", "DAYLIGHT"} and kinds
