"""`carerota demo` rosters volunteers and shows the time bank (issue 9, item 14): in the
generated week staff under contract took every social call, so a new user's first look showed
an empty time bank. The demo week gives the social calls to the volunteers without taking any
care from staff, and ends with the hours each volunteer has been credited."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.models import Member, Rota, Visit
from api.services.demo import volunteer_week
from carerota.cli import app as cli
from scheduler.example import generate_problem
from scheduler.problem import problem_from_dict


def test_the_demo_week_changes_no_care_visit_and_no_care_skill_of_staff():
    """Volunteers complement staff: the demo only lets volunteers do the social calls; every
    care visit, and every skill staff need for care, is as generated."""
    week = dt.date(2026, 12, 7)
    original = generate_problem(clients=12, seed=1, week_start=week)
    demo = volunteer_week(original)
    problem_from_dict(demo)   # still a valid problem file
    care = [v for v in original["visits"] if not v.get("volunteer_ok")]
    assert [v for v in demo["visits"] if not v.get("volunteer_ok")] == care
    care_skills = {s for v in care for r in v.get("roles", []) for s in r.get("skills", [])}
    for before, after in zip(original["carers"], demo["carers"], strict=True):
        if before["kind"] == "staff":
            assert set(before["skills"]) & care_skills == set(after["skills"]) & care_skills
            assert before.get("contracted_minutes") == after.get("contracted_minutes")
            assert before["availability"] == after["availability"]
    calls = [v for v in demo["visits"] if v.get("volunteer_ok")]
    volunteers = [c for c in demo["carers"] if c["kind"] == "volunteer"]
    for v in calls:   # each social call has a volunteer with its skills, free in its window
        needs = {s for r in v["roles"] for s in r.get("skills", [])}
        assert any(needs <= set(c["skills"]) and any(
            a["start"] <= v["earliest_start"] and a["end"] >= v["latest_start"] for a in c["availability"])
            for c in volunteers), v["id"]


@pytest.fixture
def demo_env(backend, tmp_path, request):
    env = {"CAREROTA_SECRET_KEY": "k" * 40, "CAREROTA_SOLVE_PROCESSES": "1",
           "CAREROTA_SECRET_KEY_FILE": str(tmp_path / "secret"), "COLUMNS": "250"}
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'demo.db'}"
        env["CAREROTA_DATABASE_URL"] = url
        yield env, sa.create_engine(url)
        return
    pg_url = request.getfixturevalue("pg_url")
    schema = f"api_test_demo_{uuid.uuid4().hex[:8]}"   # made by the demo itself (a missing schema)
    env |= {"CAREROTA_DATABASE_URL": pg_url, "CAREROTA_DATABASE_SCHEMA": schema}
    engine = sa.create_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})
    yield env, engine
    engine.dispose()
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def test_the_demo_rosters_volunteers_on_social_calls_and_shows_their_credited_hours(demo_env):
    env, engine = demo_env
    result = CliRunner().invoke(cli, ["demo", "--clients", "8", "--time-limit", "3"], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    with Session(engine) as s:
        volunteers = {m.id: m.full_name for m in s.exec(select(Member).where(Member.role == "volunteer"))}
        rotas = list(s.exec(select(Rota).where(Rota.status == "published").order_by(Rota.week_start)))
        assert len(rotas) == 2   # last week (confirmed) and next week
        for rota in rotas:
            visits = list(s.exec(select(Visit).where(Visit.rota_id == rota.id)))
            calls = [v for v in visits if v.volunteer_ok and v.carer_ids]
            assert calls
            assert all(set(v.carer_ids) <= set(volunteers) for v in calls), "staff took a social call"
            assert not any(set(v.carer_ids) & set(volunteers) for v in visits if not v.volunteer_ok)
    credited = dict(re.findall(r"^\s+(.+?): (\d+) h \d\d min credited$", out, flags=re.M))
    assert set(credited) == set(volunteers.values())
    assert sum(int(h) for h in credited.values()) >= 1, out
    assert "social calls by volunteers" in out and "time bank" in out
