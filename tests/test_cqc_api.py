"""The CQC API client against a real HTTP server on 127.0.0.1 replaying real bodies."""

from __future__ import annotations

import json

import pytest
from cqc_fake_api import (
    HTML_403,
    KEY,
    FakeClock,
    FakeCqc,
    real_locations_listing,
    respond,
)
from pytest_httpserver import HTTPServer

from monitor.sources.cqc.api import ApiError, CqcApi, NotFound, RateLimiter

UA = "nhs-trust-monitor/test"


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeCqc:
    return FakeCqc(httpserver).install()


def client(fake: FakeCqc, clock: FakeClock, *, key: str | None = KEY, rpm: int = 600) -> CqcApi:
    return CqcApi(
        fake.base_url,
        key,
        user_agent=UA,
        timeout=5,
        retries=3,
        requests_per_minute=rpm,
        clock=clock.clock,
        sleep=clock.sleep,
    )


def test_headers_key_and_user_agent_are_sent(fake: FakeCqc) -> None:
    fake.add_body("location", "RM317")
    api = client(fake, FakeClock())
    body = json.loads(api.body("location", "RM317"))
    assert body["name"] == "Royal Oldham Hospital"
    sent = fake.log[-1].headers
    assert sent["Ocp-Apim-Subscription-Key"] == KEY
    assert sent["User-Agent"] == UA


def test_a_request_without_the_key_is_refused(fake: FakeCqc) -> None:
    fake.add_body("location", "RM317")
    api = client(fake, FakeClock(), key=None)
    with pytest.raises(ApiError) as err:
        api.body("location", "RM317")
    assert err.value.status == 401
    assert "subscription key" in str(err.value)
    assert "Ocp-Apim-Subscription-Key" not in fake.log[-1].headers


def test_ids_are_sent_in_upper_case(fake: FakeCqc) -> None:
    fake.add_body("location", "RM317")
    client(fake, FakeClock()).body("location", "rm317")
    assert fake.paths() == ["/public/v1/locations/RM317"]


def test_paging_reads_every_page_of_the_real_listing(fake: FakeCqc) -> None:
    real = real_locations_listing()
    fake.listings["locations"] = real
    api = client(fake, FakeClock())
    pages = list(api.pages("locations", "locations", per_page=100))
    assert [len(p) for p in pages] == [100, 100, 100, 100, 51]
    assert list(api.listing("location")) == [e["locationId"].upper() for e in real]
    assert [r.args["page"] for r in fake.log[:5]] == ["1", "2", "3", "4", "5"]
    assert {r.args["perPage"] for r in fake.log[:5]} == {"100"}


def test_404_raises_not_found(fake: FakeCqc) -> None:
    with pytest.raises(NotFound):
        client(fake, FakeClock()).body("location", "1-000000001")


def test_429_waits_for_retry_after_then_succeeds(fake: FakeCqc) -> None:
    fake.add_body("location", "RM317")
    fake.script["/locations/RM317"] = [respond(429, "{}", {"Retry-After": "7"})]
    clock = FakeClock()
    api = client(fake, clock)
    assert json.loads(api.body("location", "RM317"))["locationId"] == "RM317"
    assert 7 in clock.waits
    assert len(fake.log) == 2


def test_5xx_is_retried_with_growing_backoff_then_gives_up(fake: FakeCqc) -> None:
    fake.script["/locations/RM317"] = [respond(503, "busy")] * 4
    clock = FakeClock()
    api = client(fake, clock)
    with pytest.raises(ApiError) as err:
        api.body("location", "RM317")
    assert err.value.status == 503
    assert len(fake.log) == 4  # the first try and 3 retries
    backoffs = [w for w in clock.waits if w >= 1]
    assert backoffs == [1, 2, 4]


def test_an_unreachable_server_is_retried_then_reported() -> None:
    clock = FakeClock()
    api = CqcApi(
        "http://127.0.0.1:9/public/v1", KEY, user_agent=UA, retries=2,
        clock=clock.clock, sleep=clock.sleep,
    )  # fmt: skip
    with pytest.raises(ApiError) as err:
        api.body("location", "RM317")
    assert err.value.status is None
    assert api.requests_made == 3


def test_html_403_from_the_gateway_is_a_clear_error(fake: FakeCqc) -> None:
    fake.script["/locations/RM317"] = [respond(403, HTML_403)]
    with pytest.raises(ApiError) as err:
        client(fake, FakeClock()).body("location", "RM317")
    assert err.value.status == 403
    assert "HTML page" in str(err.value) and "User-Agent" in str(err.value)


def test_rate_limiter_spaces_requests_without_sleeping_for_real() -> None:
    clock = FakeClock()
    limiter = RateLimiter(120, clock=clock.clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.wait()
    assert clock.waits == [0.5, 0.5, 0.5, 0.5]


def test_requests_respect_the_configured_rate(fake: FakeCqc) -> None:
    fake.add_body("location", "RM317")
    clock = FakeClock()
    api = client(fake, clock, rpm=60)
    for _ in range(3):
        api.body("location", "RM317")
    assert clock.waits == [1.0, 1.0]
