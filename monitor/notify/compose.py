"""Outbox rows -> email messages: load what a batch needs once, build each context, render.

Alert emails are rendered from their events' evidence (fixed when the event happened), digests
and operator emails from the payload written when they were queued. Rendering the same row
twice therefore gives the same message.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
from sqlmodel import Session, col, select

from monitor import metrics, orgs, periods
from monitor.config import Settings
from monitor.models import Alert, AlertEvent, Organisation, Outbox, Subscription
from monitor.notify import channels, chat, mime, render, subscriptions, tokens
from monitor.notify.contexts import (
    AlertEmail,
    AlertGroupEmail,
    BoardPackEmail,
    ConfirmEmail,
    DigestEmail,
    DigestItem,
    MergerEmail,
    OperatorEmail,
    RecipientPart,
    TrustRow,
    as_mapping,
)
from monitor.notify.views import AlertView, alert_view
from monitor.rules.evidence import Evidence
from monitor.sources import registry
from monitor.urls import Urls
from monitor.vocab import EventKind, OutboxKind, Severity

MAX_BODIES = 1000  # rendered bodies kept by a composer (about 15 kB each)


class Cancelled(Exception):
    """The row has nobody left to send to (every subscription it carries has ended)."""


@dataclass
class Batch:
    """What a batch of rows refers to, loaded in a few queries."""

    events: dict[int, AlertEvent] = field(default_factory=dict)
    alerts: dict[int, Alert] = field(default_factory=dict)
    subs: dict[int, Subscription] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # ICB / organisation code -> name


def load(session: Session, rows: Sequence[Outbox]) -> Batch:
    """Load the events, alerts, subscriptions and names ``rows`` refer to."""
    b = Batch()
    event_ids = {int(e) for r in rows for e in (r.payload or {}).get("events", [])}
    sub_ids = {int(s) for r in rows for s in (r.payload or {}).get("subscriptions", [])}
    if event_ids:
        q = select(AlertEvent).where(col(AlertEvent.id).in_(event_ids))
        b.events = {e.id: e for e in session.exec(q) if e.id is not None}
        alert_ids = {e.alert_id for e in b.events.values()}
        b.alerts = {
            a.id: a
            for a in session.exec(select(Alert).where(col(Alert.id).in_(alert_ids)))
            if a.id is not None
        }
    if sub_ids:
        q2 = select(Subscription).where(col(Subscription.id).in_(sub_ids))
        b.subs = {s.id: s for s in session.exec(q2) if s.id is not None}
        codes = {s.code for s in b.subs.values() if s.scope != "region"}
        if codes:
            q3 = select(Organisation.code, Organisation.name).where(
                col(Organisation.code).in_(codes)
            )
            b.names = dict(session.exec(q3).all())
    return b


@dataclass(frozen=True, kw_only=True)
class Composer:
    """Builds messages for one deployment: its settings, templates and signing secret.

    An event's view and an email body are the same for every recipient of the same alerts
    (evidence does not change), so a composer keeps them for its lifetime (one delivery run)
    and renders only each recipient's own part per message.
    """

    settings: Settings
    env: jinja2.Environment
    secret: bytes
    views: dict[int, AlertView] = field(default_factory=dict, compare=False)
    bodies: dict[tuple[Any, ...], mime.Rendered] = field(default_factory=dict, compare=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> Composer:
        return cls(
            settings=settings, env=render.env_for(settings), secret=tokens.load_secret(settings)
        )

    @functools.cached_property  # the same for every message a composer builds
    def urls(self) -> Urls:
        return Urls(self.settings.web.base_url)

    def message(self, row: Outbox, batch: Batch) -> tuple[bytes, mime.Rendered]:
        """The message's bytes and its rendered parts. Raises Cancelled, or
        render.TemplateError and jinja2 errors for a template that cannot be rendered."""
        name, context, subs, key = self.context(row, batch)
        body = self.bodies.get(key) if key else None
        if body is None:
            body = render.render(self.env, name, context)
            if key:
                if len(self.bodies) >= MAX_BODIES:
                    self.bodies.clear()  # a simple bound: bodies are cheap to make again
                self.bodies[key] = body
        unsubscribe = None
        if subs is not None:
            unsubscribe = self._unsubscribe(subs)
            part = RecipientPart(
                recipient=row.recipient,
                subscribed_to=[tokens.describe_subscription(s) for s in subs],
                unsubscribe_url=unsubscribe,
                status_url=self.urls.home(),
                manage_url=self._manage(subs),
            )
            body = render.personalise(self.env, body, part)
        data = mime.build(
            self.settings,
            recipient=row.recipient,
            rendered=body,
            message_id=row.message_id,
            date=row.created_at,
            unsubscribe_url=unsubscribe,
            attachment=self._attachment(row),
        )
        return data, body

    def _attachment(self, row: Outbox) -> mime.Attachment | None:
        """A board pack's file, written under [paths] var when the pack was produced."""
        name = (row.payload or {}).get("attachment") if row.kind == OutboxKind.BOARD_PACK else None
        if not name:
            return None
        path = self.settings.paths.var / name
        if not path.is_file():
            raise LookupError(f"the board pack {path} to attach is missing")
        kind = "application/pdf" if path.suffix == ".pdf" else "text/html; charset=utf-8"
        return mime.Attachment(path.name, kind, path.read_bytes())

    def chat_message(self, row: Outbox, batch: Batch) -> tuple[str, bytes, str]:
        """(webhook URL, JSON body, title) of a row for a chat channel, with the same
        evidence and words as its email. Raises Cancelled, or render.TemplateError and
        jinja2 errors."""
        name, context, subs, _ = self.context(row, batch)
        url = next((s.webhook_url for s in subs or () if s.webhook_url), None)
        if url is None:
            raise Cancelled("no live subscription names this channel's webhook any more")
        subject = self.env.get_template(f"{name}.subject.j2").render(as_mapping(context))
        title = " ".join(subject.split())
        msg = chat.message(name, context, title, key=row.key)
        env = chat.env_for(self.settings)
        return url, chat.render(env, channels.channel_of(row.recipient), msg), title

    # --- contexts ---------------------------------------------------------------------

    def _subs(self, row: Outbox, batch: Batch) -> list[Subscription]:
        ids = [int(s) for s in (row.payload or {}).get("subscriptions", [])]
        live = [batch.subs[i] for i in ids if i in batch.subs]
        return [s for s in live if s.unsubscribed_at is None]

    def _unsubscribe(self, subs: Sequence[Subscription]) -> str:
        token = tokens.sign(self.secret, tokens.UNSUBSCRIBE, [s.token for s in subs])
        return self.urls.unsubscribe(token)

    def _manage(self, subs: Sequence[Subscription]) -> str:
        return self.urls.manage(tokens.sign(self.secret, tokens.MANAGE, [s.token for s in subs]))

    def context(
        self, row: Outbox, batch: Batch
    ) -> tuple[str, Any, list[Subscription] | None, tuple[Any, ...] | None]:
        """(template set, context, the subscriptions the recipient's part names or None for
        operator and confirmation emails, the key under which the body is shared or None)."""
        p = row.payload or {}
        status_url = self.urls.home()
        if row.kind == OutboxKind.OPERATOR:
            ctx: Any = OperatorEmail(
                title=p["title"],
                summary=p["summary"],
                details=[(str(k), str(v)) for k, v in p["details"]],
                action=p["action"],
                recipient=row.recipient,
                status_url=self.urls.sources(),
            )
            return "operator_incident", ctx, None, None
        subs = self._subs(row, batch)
        if row.kind == OutboxKind.CONFIRM:
            pending = [s for s in subs if s.confirmed_at is None]
            if not pending:
                raise Cancelled("already confirmed or unsubscribed")
            token = tokens.sign(self.secret, tokens.CONFIRM, [s.token for s in pending])
            ctx = ConfirmEmail(
                subscriptions=[tokens.describe_subscription(s) for s in pending],
                confirm_url=self.urls.confirm(token),
                recipient=row.recipient,
                status_url=status_url,
                manage_url=self._manage(pending),
            )
            return "subscription_confirm", ctx, None, None
        subs = [s for s in subs if subscriptions.receiving(s)]  # a paused one gets nothing
        if not subs:
            raise Cancelled("every subscription it was for has ended or is paused")
        if row.kind == OutboxKind.MERGER:
            ctx = MergerEmail(
                closed_code=p["closed_code"],
                closed_name=p["closed_name"],
                closed_on_text=periods.day(p["closed_on"]),
                successor_code=p["successor_code"],
                successor_name=p["successor_name"],
                successor_url=self.urls.org(p["successor_code"]),
                status_url=status_url,
            )
            return "subscription_merged", ctx, subs, None
        if row.kind == OutboxKind.BOARD_PACK:
            ctx = BoardPackEmail(
                org_code=p["org_code"],
                org_name=p["org_name"],
                month_label=p["month_label"],
                pack_url=p["pack_url"],
                pdf_url=p["pdf_url"],
                attachment_name=str(p.get("attachment") or "").rpartition("/")[2],
                status_url=status_url,
            )
            return "board_pack", ctx, subs, None
        if row.kind == OutboxKind.DIGEST:
            ctx = DigestEmail(
                week=p["week"],
                week_label=p["week_label"],
                # A digest queued before items had a change or trusts a league position.
                new=[DigestItem(**{"change": "", **d}) for d in p["new"]],
                still_open=[DigestItem(**{"change": "", **d}) for d in p["still_open"]],
                resolved=[DigestItem(**{"change": "", **d}) for d in p["resolved"]],
                trusts=[TrustRow(**{"league_text": "", **t}) for t in p["trusts"]],
                status_url=status_url,
                scope_name=p.get("scope_name", ""),
                context_text=p.get("context_text", ""),
            )
            return "digest_weekly", ctx, subs, None  # each recipient's digest is their own
        views = self._views(p, batch)
        events = tuple(int(e) for e in p.get("events", []))
        if row.kind == OutboxKind.EVENT and len(views) == 1:
            name = "alert_fired" if views[0].kind == EventKind.FIRED else "alert_resolved"
            return name, AlertEmail(views[0], status_url), subs, (name, events)
        group = self._group(row, batch, views, subs)
        return "alert_group", group, subs, ("alert_group", events, group.place)

    def _views(self, p: dict[str, Any], batch: Batch) -> list[AlertView]:
        views = []
        for e in (int(x) for x in p.get("events", [])):
            if e not in self.views:
                event = batch.events.get(e)
                alert = batch.alerts.get(event.alert_id) if event else None
                if event is None or alert is None:
                    raise LookupError(f"alert event {e} is missing from the database")
                self.views[e] = alert_view(event, alert, self.urls)
            views.append(self.views[e])
        return views

    def _group(
        self,
        row: Outbox,
        batch: Batch,
        views: list[AlertView],
        subs: Sequence[Subscription],
    ) -> AlertGroupEmail:
        first = Evidence.from_json(batch.events[int(row.payload["events"][0])].evidence)
        metric = metrics.METRICS.get(first.metric or "")
        source = registry.get(metric.publisher).short if metric else "New figures"
        period = Counter(v.period_label for v in views).most_common(1)[0][0]
        fired = sorted(
            (v for v in views if v.kind == EventKind.FIRED),
            key=lambda v: (-Severity.rank_of(v.severity), v.org_name),
        )
        return AlertGroupEmail(
            title=f"{source} for {period}" if period else source,
            place=self._place(subs, views, batch),
            fired=fired,
            resolved=sorted(
                (v for v in views if v.kind != EventKind.FIRED), key=lambda v: v.org_name
            ),
            publication_title=first.publication_title or views[0].publication_title,
            publication_url=views[0].publication_url,
            published_text=views[0].published_text,
            status_url=self.urls.home(),
        )

    def _place(self, subs: Sequence[Subscription], views: Sequence[AlertView], batch: Batch) -> str:
        scopes = {(s.scope, s.code) for s in subs}
        if len(scopes) == 1:
            scope, code = next(iter(scopes))
            if scope == "region":
                return orgs.REGIONS.get(code, code)
            return batch.names.get(code, code)
        regions = {v.region_name for v in views}
        if len(regions) == 1 and "" not in regions:
            return regions.pop()
        return "England"
