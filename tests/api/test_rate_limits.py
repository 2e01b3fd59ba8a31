"""Login rate limits per account and per client address, and which forwarded headers are
believed (issue 9, item 5)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from api.settings import Settings


def _signup(c: TestClient, n_carers: int) -> list[str]:
    """A co-op whose coordinator creates ``n_carers`` staff; returns their e-mails."""
    u = uuid.uuid4().hex[:8]
    coord = f"coord-{u}@example.org"
    r = c.post("/coops", json={"name": f"Office {u}", "coordinator": {
        "email": coord, "full_name": "Cari", "password": "password123"}})
    assert r.status_code == 201, r.text
    token = c.post("/auth/token", data={"username": coord, "password": "password123"}).json()["access_token"]
    emails = []
    for i in range(n_carers):
        email = f"carer{i}-{u}@example.org"
        r = c.post("/members", headers={"Authorization": f"Bearer {token}"}, json={
            "email": email, "full_name": f"Carer {i}", "role": "staff", "password": "password123",
            "lat": 51.58, "lon": -2.99})
        assert r.status_code == 201, r.text
        emails.append(email)
    return emails


def test_a_whole_office_behind_one_address_can_log_in_at_shift_start(fresh_app):
    """Twelve carers log in from one address within a minute. The limit used to be 10 a
    minute per address, locking the eleventh out; now it is per account (and far higher per address)."""
    with fresh_app(rate_limit_login="3/minute", rate_limit_login_ip="40/minute") as (_app, c):
        emails = _signup(c, 12)
        codes = [c.post("/auth/token", data={"username": e, "password": "password123"}).status_code
                 for e in emails]
        assert codes == [200] * 12


def test_guessing_one_accounts_password_is_limited_per_account(fresh_app):
    """The per-account limit holds whatever the address: a fourth try within the minute is a 429
    that names the account limit, while another account can still log in."""
    with fresh_app(rate_limit_login="3/minute", rate_limit_login_ip="40/minute") as (_app, c):
        victim, other = _signup(c, 2)
        tries = [c.post("/auth/token", data={"username": victim, "password": "wrong-guess"}).status_code
                 for _ in range(3)]
        assert tries == [401, 401, 401]
        # the same account in another spelling is the same account
        r = c.post("/auth/token", data={"username": victim.upper(), "password": "password123"})
        assert r.status_code == 429 and "per account" in r.json()["detail"] and "retry-after" in r.headers
        assert c.post("/auth/token", data={"username": other, "password": "password123"}).status_code == 200


def test_logins_from_one_address_are_limited_at_the_higher_per_address_rate(fresh_app):
    """Trying many accounts from one address is stopped by the per-address limit."""
    with fresh_app(rate_limit_login="3/minute", rate_limit_login_ip="5/minute") as (_app, c):
        codes = [c.post("/auth/token", data={"username": f"x{i}@example.org", "password": "x"}).status_code
                 for i in range(7)]
        assert codes == [401] * 5 + [429, 429]
        r = c.post("/auth/token", data={"username": "y@example.org", "password": "x"})
        assert "per client address" in r.json()["detail"]


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(fresh_app):
    """Without trusted proxies a caller cannot dodge the per-address limit by sending its own
    X-Forwarded-For; behind a trusted proxy, each forwarded client has its own count."""
    with fresh_app(rate_limit_login="100/minute", rate_limit_login_ip="2/minute") as (app, _c):
        c = TestClient(app, client=("203.0.113.9", 4000))
        codes = [c.post("/auth/token", headers={"X-Forwarded-For": f"198.51.100.{i}"},
                        data={"username": f"a{i}@example.org", "password": "x"}).status_code
                 for i in range(3)]
        assert codes == [401, 401, 429]
    with fresh_app(rate_limit_login="100/minute", rate_limit_login_ip="2/minute",
                   trusted_proxies=["10.0.0.0/8"]) as (app, _c):
        proxy = TestClient(app, client=("10.1.2.3", 4000))

        def via_proxy(xff: str, i: int) -> int:
            return proxy.post("/auth/token", headers={"X-Forwarded-For": xff},
                              data={"username": f"b{i}@example.org", "password": "x"}).status_code

        # two clients behind the proxy: two each, the third of one is limited, not the other's
        assert [via_proxy("198.51.100.1", i) for i in range(3)] == [401, 401, 429]
        assert [via_proxy("198.51.100.2", i) for i in range(2)] == [401, 401]
        # a forged left-most hop does not help: the proxy appended the real client last
        assert via_proxy("192.0.2.77, 198.51.100.1", 9) == 429
        # an untrusted peer's header is still ignored in this app
        direct = TestClient(app, client=("203.0.113.50", 4000))
        direct_codes = [direct.post("/auth/token", headers={"X-Forwarded-For": f"192.0.2.{i}"},
                                    data={"username": f"c{i}@example.org", "password": "x"}).status_code
                        for i in range(3)]
        assert direct_codes == [401, 401, 429]


@pytest.mark.parametrize("field,value", [("rate_limit_login", "ten a minute"),
                                         ("trusted_proxies", "proxy.local")])
def test_bad_rate_limit_settings_are_refused_at_start_naming_the_setting(field, value, tmp_path):
    """A mistyped setting is one clear error at start-up, not a crash on the first request."""
    with pytest.raises(ValidationError) as err:
        Settings(**{field: value}, secret_key_file=tmp_path / "s")
    assert field in str(err.value)


REDIS_URL = "redis://127.0.0.1:6379/12"


def test_two_api_processes_sharing_redis_count_one_accounts_logins_together(fresh_app):
    """Several API processes behind a load balancer: the per-account login limit is counted in
    Redis, so three tries spread over two apps exhaust it for both (in memory each would allow
    three of its own)."""
    victim = f"victim-{uuid.uuid4().hex}@example.org"
    with fresh_app(rate_limit_login="3/minute", redis_url=REDIS_URL) as (_a, one), \
            fresh_app(rate_limit_login="3/minute", redis_url=REDIS_URL) as (_b, two):
        codes = [c.post("/auth/token", data={"username": victim, "password": "guess"}).status_code
                 for c in (one, two, one)]
        assert codes == [401, 401, 401]
        r = two.post("/auth/token", data={"username": victim, "password": "guess"})
        assert r.status_code == 429 and "per account" in r.json()["detail"]


def test_rate_limits_fall_back_to_this_process_when_redis_is_unreachable(fresh_app):
    """A Redis outage does not take logins down: the process counts alone meanwhile, so the
    limit still holds."""
    victim = f"victim-{uuid.uuid4().hex}@example.org"
    with fresh_app(rate_limit_login="2/minute", redis_url="redis://127.0.0.1:1/0") as (_a, c):
        codes = [c.post("/auth/token", data={"username": victim, "password": "guess"}).status_code
                 for _ in range(3)]
        assert codes == [401, 401, 429]
