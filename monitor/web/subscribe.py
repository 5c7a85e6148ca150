"""Self-service subscriptions: the /subscribe form and a subscriber's /subscriptions/<token>.

/subscribe (GET: the form, pre-filled from ``?org=``, ``?region=`` or ``?icb=``; POST: sign up,
CSRF-checked) calls ``monitor.notify.signups.sign_up`` and answers "check your email" whether or
not the address already had the subscription. /subscriptions/<token> (GET shows, POST acts)
calls ``monitor.notify.manage``: the signed token in the URL is the capability, as on the
confirm and unsubscribe pages, so the POSTs need no session; a link it does not accept gets a
400 page and changes nothing. docs/notifications.md describes both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, render_template, request
from sqlmodel import col, select

from monitor import orgs
from monitor.db import session_scope
from monitor.models import Organisation, utcnow
from monitor.notify import manage, signups
from monitor.notify import subscriptions as subs
from monitor.notify.subscriptions import CONFIRM_WITHIN
from monitor.notify.tokens import minimum_in_words
from monitor.vocab import SEVERITIES, Severity
from monitor.web.auth import check_csrf
from monitor.web.email_links import MAX_TOKEN

bp = Blueprint("subscribe", __name__)


@dataclass(frozen=True)
class ScopeWords:
    """How the form speaks of one scope."""

    group: str  # its group in the list: "Trusts"
    noun: str  # "trust"
    kind: str  # Organisation.kind of its codes


# The form's scopes, in the order it lists them; the keys are also the links' query parameters
# and, as "<scope>:<code>", the values the list sends.
SCOPES = {
    "region": ScopeWords("Regions", "region", "region"),
    "icb": ScopeWords("Integrated care boards", "integrated care board", "icb"),
    "org": ScopeWords("Trusts", "trust", "trust"),
}
CHOOSE_SCOPE = "Choose a trust, region or integrated care board"
DEFAULT_SEVERITY = Severity.MEDIUM
MAX_EMAIL = 320  # RFC 5321's longest address
BAD_EMAIL = "Enter an email address in the correct format, like name@example.nhs.uk"


def severity_choice(severity: str) -> str:
    """A minimum severity as the forms offer it: "High and above", "Critical only"."""
    if severity == Severity.INFO:
        return "Everything (info and above)"
    return minimum_in_words(severity).capitalize()


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    # For the "get alerts" blocks on the home and trust pages (subscribe_home/_org.jinja).
    return {"subscribe_scopes": scope_options}


def _ctx() -> Any:
    return current_app.extensions["monitor"].ctx


def scope_options() -> dict[str, list[tuple[str, str]]]:
    """What may be subscribed to, by scope: (code, name), by name; open trusts only."""
    today = utcnow().date()
    with session_scope(_ctx().engine) as s:
        found = list(
            s.exec(
                select(Organisation)
                .where(col(Organisation.kind).in_(("trust", "icb")))
                .order_by(col(Organisation.name))
            )
        )
    return {
        "org": [(o.code, o.name) for o in found if o.kind == "trust" and not _closed(o, today)],
        "region": sorted(orgs.REGIONS.items(), key=lambda kv: kv[1]),
        "icb": [(o.code, o.name) for o in found if o.kind == "icb"],
    }


def _closed(org: Organisation, today: date) -> bool:
    return org.closed is not None and org.closed <= today


@functools.lru_cache(maxsize=4)
def _rule_titles(folder: Path, stamp: tuple[float, ...]) -> tuple[tuple[str, str], ...]:
    from monitor.rules.load import load_rules

    rules = load_rules(folder).rules
    return tuple(sorted(((r.id, r.title) for r in rules.values()), key=lambda x: x[1]))


def rule_titles() -> list[tuple[str, str]]:
    """(id, title) of the rules in ``[paths] rules``, by title; re-read when a file changes."""
    folder = _ctx().settings.paths.rules
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    return list(_rule_titles(folder, tuple(p.stat().st_mtime_ns for p in files)))


# --- /subscribe -------------------------------------------------------------------------------


@dataclass
class SignupForm:
    """The sign-up form's values, as posted or pre-filled from a link."""

    email: str = ""
    scope: str = ""
    code: str = ""
    min_severity: str = DEFAULT_SEVERITY
    digest_only: bool = False
    rules: list[str] = field(default_factory=list)
    board_pack: str = ""  # "", or a trust's monthly board pack: "link" or "attachment"

    @classmethod
    def from_link(cls, args: Any) -> SignupForm:
        """The first of ``?org=``, ``?region=`` or ``?icb=`` chooses the scope."""
        for scope in ("org", "region", "icb"):
            code = args.get(scope, "").strip()[:64]
            if code:
                if scope == "region":
                    code = orgs.code_for(code) or code
                return cls(scope=scope, code=code.upper()[:16])
        return cls()

    @classmethod
    def posted(cls, form: Any) -> SignupForm:
        scope, _, code = form.get("scope", "").partition(":")
        return cls(
            email=form.get("email", "").strip()[:MAX_EMAIL],
            scope=scope,
            code=code.strip().upper()[:16],
            min_severity=form.get("min_severity", ""),
            digest_only=form.get("digest_only") == "yes",
            rules=form.getlist("rules")[:100],
            board_pack=form.get("board_pack", "")[:20],
        )

    def missing(self) -> list[tuple[str, str]]:
        """(field, message) for what was left out, in the form's order."""
        out = []
        if not self.email:
            out.append(("email", "Enter your email address"))
        if self.scope not in SCOPES or not self.code:
            out.append(("scope", CHOOSE_SCOPE))
        return out

    def request(self) -> subs.Request:
        return subs.Request(
            email=self.email,
            scope=self.scope,
            code=self.code,
            min_severity=self.min_severity,
            rules=tuple(self.rules),
            digest_only=self.digest_only,
            board_pack=self.board_pack or None,
        )


def _link_problem(form: SignupForm, options: dict[str, list[tuple[str, str]]]) -> str | None:
    """Why a link's scope cannot be offered (unknown, or a closed trust), or None. A closed
    trust's open successor is chosen in its place."""
    if not form.scope or form.code in {c for c, _ in options[form.scope]}:
        return None
    code, words = form.code, SCOPES[form.scope]
    with session_scope(_ctx().engine) as s:
        org = s.get(Organisation, code)
        successor = s.get(Organisation, org.successor) if org and org.successor else None
    form.code = ""
    if org is None or org.kind != words.kind:
        return f"There is no {words.noun} with the code {code}: choose one from the list"
    if successor is not None and successor.code in {c for c, _ in options[form.scope]}:
        form.code = successor.code
        return f"{org.name} ({code}) has closed: its successor, {successor.name}, is chosen instead"
    return f"{org.name} ({code}) has closed: choose another {words.noun}"


def _form_page(form: SignupForm, errors: list[tuple[str, str]], status: int = 200) -> Any:
    options = scope_options()
    problem = _link_problem(form, options) if not errors else None
    if problem:
        errors = [("scope", problem)]
    html = render_template(
        "subscribe.jinja",
        form=form,
        options=options,
        scopes=SCOPES,
        choose_scope=CHOOSE_SCOPE,
        severities=list(reversed(SEVERITIES)),
        severity_choice=severity_choice,
        rules=rule_titles(),
        allowed_domains=_ctx().settings.subscriptions.allowed_domains,
        errors=[{"text": text, "href": f"#{name}"} for name, text in errors],
        error_for=dict(errors),
    )
    return _no_store(current_app.make_response((html, status)))


def _no_store(resp: Any) -> Any:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/subscribe", methods=["GET", "POST"])
def subscribe() -> Any:
    """GET: the form (pre-filled from a trust's or the home page's link); POST: sign up."""
    if request.method == "GET":
        return _form_page(SignupForm.from_link(request.args), [])
    check_csrf()
    form = SignupForm.posted(request.form)
    missing = form.missing()
    if missing:
        return _form_page(form, missing, 400)
    try:
        subs.normalise_email(form.email)
    except subs.InvalidSubscription:
        return _form_page(form, [("email", BAD_EMAIL)], 400)
    ctx = _ctx()
    client = signups.client_key(request.remote_addr)
    try:
        with session_scope(ctx.engine, write=True) as s:
            signups.sign_up(s, ctx.settings, form.request(), client=client)
    except signups.TooManySignups as e:
        return _form_page(form, [("email", str(e))], 429)
    except subs.InvalidSubscription as e:
        where = "scope" if e.field == "code" else (e.field or "email")
        return _form_page(form, [(where, str(e))], 400)
    html = render_template("subscribe_sent.jinja", email=form.email, days=CONFIRM_WITHIN.days)
    return _no_store(current_app.make_response(html))


# --- /subscriptions/<token> -------------------------------------------------------------------


def _names(outcome: manage.Outcome) -> dict[str, str]:
    """Code -> name of the organisations and regions the subscriptions are for."""
    codes = {x.code for x in outcome.subscriptions}
    with session_scope(_ctx().engine) as s:
        found = s.exec(
            select(Organisation.code, Organisation.name).where(col(Organisation.code).in_(codes))
        )
        names = dict(found.all())
    return names | {c: n for c, n in orgs.REGIONS.items() if c in codes}


def _manage_page(token: str, outcome: manage.Outcome, status: int) -> Any:
    errors = []
    if outcome.status == "refused":
        errors = [{"text": outcome.message, "href": "#subscriptions"}]
    html = render_template(
        "manage.jinja",
        outcome=outcome,
        names=_names(outcome) if outcome.ok or outcome.email else {},
        severities=list(reversed(SEVERITIES)),
        severity_choice=severity_choice,
        rules=rule_titles(),
        errors=errors,
        action=request.path,
        token=token,
    )
    resp = _no_store(current_app.make_response((html, status)))
    resp.headers["Referrer-Policy"] = "no-referrer"  # the URL holds the token
    return resp


def _act(token: str) -> manage.Outcome:
    ctx = _ctx()
    try:
        action = manage.Action(request.form.get("action", ""))
    except ValueError:
        shown = manage.show(ctx.engine, token, settings=ctx.settings)
        if not shown.ok:
            return shown
        message = "Use one of the page's buttons. Nothing was changed."
        return replace(shown, ok=False, status="refused", message=message)
    raw = request.form.get("subscription", "")
    sub_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
    choices = manage.Choices(
        min_severity=request.form.get("min_severity", ""),
        digest_only=request.form.get("digest_only") == "yes",
        rules=tuple(request.form.getlist("rules")[:100]),
        board_pack=request.form.get("board_pack"),
    )
    return manage.act(ctx.engine, token, action, sub_id, settings=ctx.settings, choices=choices)


@bp.route("/subscriptions/<token>", methods=["GET", "POST"])
def subscriptions(token: str) -> Any:
    """GET: the address's subscriptions with their buttons; POST: one button's action."""
    ctx = _ctx()
    if len(token) > MAX_TOKEN:
        outcome = manage.INVALID
    elif request.method == "GET":
        outcome = manage.show(ctx.engine, token, settings=ctx.settings)
    else:
        outcome = _act(token)
    return _manage_page(token, outcome, 200 if outcome.ok else 400)
