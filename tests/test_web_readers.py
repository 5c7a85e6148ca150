"""The status page for its readers, on SQLite and PostgreSQL: the list and search of trusts,
ICBs by name, rule titles instead of ids, states explained, one set of severity colours on the
site and in the emails, the red breach bars of an alert's trend, and Making Data Count charts
on trust pages."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from test_web_pages import text
from web_fixtures import mailbox
from web_seed import RCX_NAME

from monitor.context import Context
from monitor.db import session_scope
from monitor.notify import subscriptions as subs
from monitor.vocab import SEVERITY_COLOURS, Severity
from monitor.web.present import STATE_HELP
from tests import alert_fixtures as af


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="nhsuk-table__row" data-org="([^"]+)"', html)


def test_orgs_lists_every_trust_with_region_icb_and_type(client: FlaskClient) -> None:
    html = client.get("/orgs").get_data(as_text=True)
    found = rows(html)
    assert len(found) > 200 and "RCX" in found and found == list(dict.fromkeys(found))
    row = re.search(r'data-org="RCX">.*?</tr>', html, flags=re.S)
    assert row is not None
    words = text(row.group(0))
    assert RCX_NAME in words and "East of England" in words and "Acute" in words
    assert "NHS Norfolk and Waveney Integrated Care Board" in words and "QMM" not in words


def test_orgs_searches_by_name_or_code_and_filters_by_region_and_type(
    client: FlaskClient,
) -> None:
    assert rows(client.get("/orgs?q=kings+lynn").get_data(as_text=True)) == ["RCX"]
    assert rows(client.get("/orgs?q=rcx").get_data(as_text=True)) == ["RCX"]
    # A word starts a word of the name: "king" finds King's College, not Barking.
    kings = rows(client.get("/orgs?q=king").get_data(as_text=True))
    assert "RJZ" in kings and "RF4" not in kings
    east = client.get("/orgs?region=Y61&type=acute").get_data(as_text=True)
    assert "RCX" in rows(east) and "RJZ" not in rows(east)
    assert "of " in text(east) and "trusts match" in text(east)
    none = text(client.get("/orgs?q=nowhere+at+all").get_data(as_text=True))
    assert "No trusts match “nowhere at all”." in none
    assert client.get("/orgs?region=Y99").status_code == 400
    assert client.get("/orgs?type=spaceport").status_code == 400


def test_the_search_is_a_plain_get_form(client: FlaskClient) -> None:
    html = client.get("/orgs").get_data(as_text=True)
    form = re.search(r"<form[^>]*>", html)
    assert (
        form is not None and 'method="get"' in form.group(0) and 'action="/orgs"' in form.group(0)
    )
    assert 'name="q"' in html and 'name="region"' in html and 'name="type"' in html


def test_trust_pages_name_the_icb(client: FlaskClient) -> None:
    words = text(client.get("/orgs/RCX").get_data(as_text=True))
    assert "Integrated care board NHS Norfolk and Waveney Integrated Care Board" in words


def test_no_rule_id_is_shown_to_readers(client: FlaskClient, ids: dict[str, int]) -> None:
    for path in ["/", "/orgs/RCX", f"/alerts/{ids['alert']}", "/?severity=critical"]:
        words = text(client.get(path).get_data(as_text=True))
        for rule_id in ("ae-type1-below-60", "cancer-62d-below-85", "ae_type1_below_60"):
            assert rule_id not in words, (path, rule_id)
    home = client.get("/").get_data(as_text=True)
    options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', home))
    assert options["ae-type1-below-60"] == "A&amp;E type 1: under 60% seen within 4 hours"


def test_states_are_explained_where_they_appear(client: FlaskClient, ids: dict[str, int]) -> None:
    for path in ["/", "/orgs/RCX"]:
        words = text(client.get(path).get_data(as_text=True))
        assert "What “Pending”, “Firing” and the other states mean" in words, path
        for state in ("Pending", "Firing", "Resolved", "Withdrawn", "Acknowledged", "Silenced"):
            assert state in words, (path, state)
        assert STATE_HELP["pending"] in words and STATE_HELP["firing"] in words
    alert = text(client.get(f"/alerts/{ids['alert']}").get_data(as_text=True))
    assert f"Status Firing {STATE_HELP['firing']}" in alert


def test_severities_have_one_colour_on_the_site_and_in_emails(
    client: FlaskClient, ctx: Context, engine: Engine
) -> None:
    # On the site: the NHS.UK tag colour declared for each severity.
    page = client.get("/").get_data(as_text=True)
    high = SEVERITY_COLOURS[Severity.HIGH]
    assert re.search(rf'nhsuk-tag--{high.name}"\s*>\s*High', page)
    critical = SEVERITY_COLOURS[Severity.CRITICAL]
    assert re.search(rf'nhsuk-tag--{critical.name}"\s*>\s*Critical', page)
    # In the email about a high alert: the same colours, inlined.
    with session_scope(engine, write=True) as s:
        subs.add(s, ctx.settings, subs.Request("board@qehkl.nhs.uk", "org", "RCX"))
    _, event = af.alert(engine, "RCX", af.publication(engine))
    af.route(engine, ctx.settings, [event])
    (msg,) = [m for m in mailbox(ctx) if m["To"] == "board@qehkl.nhs.uk"]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    tag = re.search(r'<span class="severity severity-high" style="([^"]+)"', html)
    assert tag is not None, "no severity tag in the email"
    assert f"background: {high.background}" in tag.group(1)
    assert f"color: {high.text}" in tag.group(1)


def test_the_alert_trend_shows_red_breach_bars_on_the_page_and_in_the_email(
    client: FlaskClient, ctx: Context, engine: Engine
) -> None:
    with session_scope(engine, write=True) as s:
        subs.add(s, ctx.settings, subs.Request("board@qehkl.nhs.uk", "org", "RCX"))
    alert_id, event = af.alert(engine, "RCX", af.publication(engine))
    af.route(engine, ctx.settings, [event])
    below_60 = sum(v < 60 for v in af.AE_TYPE1["RCX"])
    assert 0 < below_60 < len(af.AE_TYPE1["RCX"])
    (msg,) = [m for m in mailbox(ctx) if m["To"] == "board@qehkl.nhs.uk"]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert html.count('bgcolor="#d5281b"') == below_60
    legend = re.search(r"red: in breach, ([^)]*)\)", html)
    assert legend is not None and "60%" in legend.group(1), "no legend for the red bars"
    page = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert page.count("monitor-trend__bar--breach") == below_60
    assert "red where the figure breached 60%" in text(page)


def test_trust_pages_chart_the_making_data_count_way(client: FlaskClient) -> None:
    html = client.get("/orgs/RCX").get_data(as_text=True)
    block = re.search(r'<section class="monitor-chart-block".*?</section>', html, flags=re.S)
    assert block is not None
    chart = block.group(0)
    # Twelve monthly figures: enough for limits, mean and the icons with their words.
    assert chart.count('class="monitor-chart__point"') == 12
    for line in ("mean", "lpl", "upl", "target"):
        assert f'class="monitor-chart__{line}"' in chart, line
    assert 'class="monitor-icon monitor-icon--variation"' in chart
    assert "Consistently failing the 78% target" in text(chart)
    assert 'aria-label="Consistently failing the 78% target"' in chart
    # The figures as a table, each with its variation in words.
    assert "Common cause variation" in text(chart) and "Show the figures as a table" in text(chart)
