"""The database tables (SQLModel). Schema changes go through Alembic (monitor/migrations).

Datetimes are timezone-aware UTC; dates are plain calendar dates. See docs/storage.md for what
each table holds and how revisions and alert episodes are kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from monitor.vocab import OPEN, JobOutcome, OutboxStatus, PublicationStatus, Severity

# At most one open alert per (rule, organisation): the open states, as SQL.
_OPEN_STATE = f"state IN ({', '.join(repr(str(s)) for s in OPEN)})"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(default: Any = None) -> Any:
    return Field(
        default_factory=lambda: default() if callable(default) else default,
        sa_column=Column(JSON, nullable=True),
    )


class Organisation(SQLModel, table=True):
    """An NHS trust, another provider seen in a publication, a region, an ICB or England."""

    code: str = Field(primary_key=True, max_length=16)
    name: str
    kind: str = Field(index=True)  # trust | other | icb | region | england
    trust_type: str | None = None  # acute | community | mental health | ambulance ...
    trust_subtype: str | None = None  # the publisher's subtype, e.g. "Acute - Teaching"
    region: str | None = Field(default=None, index=True)  # Y56..Y63
    icb: str | None = Field(default=None, index=True)  # e.g. QMM
    opened: date | None = None
    closed: date | None = None
    successor: str | None = None
    source: str = ""  # where the reference data came from
    updated_at: datetime = Field(default_factory=utcnow)


class Publication(SQLModel, table=True):
    """One version of one published file, as fetched or read from disk."""

    __table_args__ = (
        # The same bytes are never ingested twice.
        Index(
            "uq_publication_ingested",
            "source",
            "sha256",
            unique=True,
            sqlite_where=text("status = 'ingested'"),
            postgresql_where=text("status = 'ingested'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True)
    url: str  # http(s) URL, or file:// for files ingested from disk
    title: str | None = None  # the link text on the publisher's page
    filename: str
    sha256: str = Field(max_length=64)
    size: int = 0
    etag: str | None = None
    last_modified: str | None = None
    published_at: datetime  # the publisher's date (or --published / the file's date)
    fetched_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default=PublicationStatus.INGESTED, index=True)  # ingested | rejected
    reason: str | None = None  # why it was rejected: file, row, column, reason
    trigger: str = "ingest"  # poll | backfill | ingest | seed
    quiet: bool = True  # True: alert events it causes are not emailed one by one
    # When an evaluation with this publication as its cause committed (None: not yet; the
    # service's next full evaluation catches it up, jobs.evaluate_catching_up).
    evaluated_at: datetime | None = None
    periods: list[str] = _json(list)  # ["2025-07-01/2025-07-31", ...]
    rows_read: int = 0
    observations_written: int = 0
    orgs: int = 0
    skipped: list[dict[str, Any]] = _json(list)
    archive_path: str | None = None  # content-addressed copy under var/publications/
    layout: str | None = None  # which of the publisher's file layouts (Parsed.layout)


class Observation(SQLModel, table=True):
    """One version of one figure. A revision adds a row and marks the older one superseded.

    Both versions stay queryable: each row names the publication it came from, and a
    superseded row also names the publication that revised it.
    """

    __table_args__ = (
        Index(
            "uq_observation_current",
            "org",
            "metric",
            "period_start",
            unique=True,
            sqlite_where=text("superseded_by IS NULL"),
            postgresql_where=text("superseded_by IS NULL"),
        ),
        Index("ix_observation_metric_period", "metric", "period_start"),
        Index("ix_observation_org_metric", "org", "metric", "period_start"),
        # Superseded rows only: an index that also held every current row (superseded_by
        # NULL) is what SQLite's planner picked for "current figures of metric M", reading
        # every current row of every metric, so that ingest and pages slowed with history.
        Index(
            "ix_observation_superseded_by",
            "superseded_by",
            sqlite_where=text("superseded_by IS NOT NULL"),
            postgresql_where=text("superseded_by IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    org: str = Field(max_length=16)
    metric: str = Field(max_length=40)
    period_start: date
    period_end: date
    granularity: str  # month | quarter | point
    value: float
    label: str | None = None
    numerator: float | None = None
    denominator: float | None = None
    derived: bool = False  # computed by the monitor (e.g. a region summed from its trusts)
    publication_id: int = Field(foreign_key="publication.id", index=True)
    # The publication whose revised figure replaced this one; None while it is current.
    superseded_by: int | None = Field(default=None, foreign_key="publication.id")


class HttpCache(SQLModel, table=True):
    """Validators of the last response per URL, for conditional GETs."""

    url: str = Field(primary_key=True)
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    checked_at: datetime = Field(default_factory=utcnow)
    changed_at: datetime | None = None


class SourceState(SQLModel, table=True):
    """Health of one publisher, as the sources page and operator emails show it."""

    source: str = Field(primary_key=True)
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_publication_id: int | None = None
    first_complete_ingest_at: datetime | None = None
    failing_since: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    cursor: str | None = None  # e.g. the CQC changes feed's last end timestamp
    # The publication calendar (monitor/sources/timetable.py): the last expected publication, and
    # since when the source has been late (its expected date plus grace days, unanswered).
    expected_at: datetime | None = None
    late_since: datetime | None = None
    # Follow-up polls after a scheduled poll found nothing new (or could not reach the
    # publisher): the next one, and the end of the window. A restart resumes them.
    follow_up_at: datetime | None = None
    follow_up_until: datetime | None = None


class Rating(SQLModel, table=True):
    """One CQC rating of a provider or location: overall, key question or service."""

    __table_args__ = (
        UniqueConstraint(
            "subject_id",
            "service",
            "domain",
            "report_date",
            "rating",
            name="uq_rating_version",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject_type: str  # provider | location
    subject_id: str = Field(index=True)  # CQC provider or location id
    subject_name: str = ""
    org: str = Field(index=True)  # the trust (provider) it belongs to
    service: str = ""  # "" for the whole organisation; e.g. "Maternity"
    domain: str = "Overall"  # Overall | Safe | Effective | Caring | Responsive | Well-led
    rating: str  # normalised: Outstanding | Good | Requires improvement | Inadequate | ...
    ordinal: int | None = None  # 1..4 on the four-point scale, else None
    report_date: date | None = None
    report_link: str | None = None
    inherited: bool = False
    inherited_from: str | None = None  # organisationId the rating was inherited from
    score: int | None = None  # single assessment framework: the key question's percentage score
    current: bool = True
    publication_id: int | None = Field(default=None, foreign_key="publication.id")
    first_seen_at: datetime = Field(default_factory=utcnow)


class CqcSubject(SQLModel, table=True):
    """A CQC provider or location the poller has met: scope, and what the changes feed said.

    ``listed_at`` is the poll that last acted on a changes-feed listing of the id; ``fetched_at``
    the poll whose body fetch succeeded (or answered 404). A listing re-seen in the overlap
    window is skipped when ``fetched_at >= listed_at``: already listed and fetched.
    """

    kind: str = Field(primary_key=True, max_length=16)  # provider | location
    subject_id: str = Field(primary_key=True, max_length=32)
    name: str = ""
    provider_id: str | None = Field(default=None, index=True)  # a location's provider
    type: str | None = None  # e.g. "NHS Healthcare Organisation"
    region: str | None = None  # Y56..Y63, from the body's region
    registration_status: str | None = None
    in_scope: bool = False
    listed_at: datetime | None = None
    fetched_at: datetime | None = None
    sha256: str | None = Field(default=None, max_length=64)  # of the last body stored
    error: str | None = None  # the last problem with this id (404, bad body, ...)


class Alert(SQLModel, table=True):
    """One episode of one rule for one organisation."""

    __table_args__ = (
        Index(
            "uq_alert_open",
            "rule",
            "org",
            unique=True,
            sqlite_where=text(_OPEN_STATE),
            postgresql_where=text(_OPEN_STATE),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(index=True)
    org: str = Field(index=True)
    metric: str | None = None
    state: str = Field(index=True)  # vocab.AlertState
    severity: str  # vocab.Severity
    opened_at: datetime = Field(default_factory=utcnow)
    fired_at: datetime | None = None
    ended_at: datetime | None = None
    value: float | None = None
    label: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    first_period: date | None = None  # the first breaching period of this episode
    consecutive_periods: int = 0
    threshold: float | None = None
    rule_version: str = ""
    previous_alert_id: int | None = None  # the episode before this re-breach
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_note: str | None = None
    silenced_until: datetime | None = None
    silenced_by: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class AlertEvent(SQLModel, table=True):
    """Something that happened to an alert, with the evidence at that moment."""

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    kind: str  # vocab.EventKind
    at: datetime = Field(default_factory=utcnow, index=True)
    period_start: date | None = None
    value: float | None = None
    threshold: float | None = None
    rule_version: str = ""
    publication_id: int | None = Field(default=None, foreign_key="publication.id")
    evidence: dict[str, Any] = _json(dict)
    notify: bool = False  # False: recorded quietly (back-fill, first ingest, acknowledged)
    actor: str | None = None
    note: str | None = None


class Subscription(SQLModel, table=True):
    """Who wants to hear about what: a region, an ICB or one organisation."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True)
    scope: str  # region | icb | org
    code: str
    trust_type: str | None = None
    min_severity: str = Severity.INFO
    rules: list[str] = _json(list)
    digest_only: bool = False
    token: str = Field(unique=True)
    confirmed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    unsubscribed_at: datetime | None = None
    origin: str = "cli"  # cli | config | web | self-service
    paused_at: datetime | None = None  # set: the subscriber paused it; nothing is sent
    board_pack: str | None = None  # the trust's monthly board pack: None, "link" or "attachment"
    # email | teams | slack | webhook (monitor/notify/channels.py). For a chat channel, email
    # holds the recipient "<channel>:<hash of the URL>" and webhook_url the URL itself.
    channel: str = Field(default="email", sa_column_kwargs={"server_default": "email"})
    webhook_url: str | None = None


class SignupAttempt(SQLModel, table=True):
    """One self-service sign-up, kept a short while so that limits hold across processes."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True)  # the address as normalised
    client: str = Field(index=True, max_length=64)  # the client's IP (IPv6: its /64)
    at: datetime = Field(default_factory=utcnow, index=True)


class Outbox(SQLModel, table=True):
    """One email to send. The key makes routing and digests idempotent."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    recipient: str = Field(index=True)
    kind: str  # vocab.OutboxKind
    payload: dict[str, Any] = _json(dict)
    subject: str | None = None
    message_id: str
    status: str = Field(default=OutboxStatus.PENDING, index=True)  # vocab.OutboxStatus
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    claimed_by: str | None = None
    sent_at: datetime | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class JobRun(SQLModel, table=True):
    """One run of one job, from the scheduler or the CLI."""

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(index=True)
    started_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = Field(default=None, index=True)  # /metrics counts by it
    outcome: str = JobOutcome.RUNNING  # vocab.JobOutcome
    counts: dict[str, Any] = _json(dict)
    error: str | None = None
    host: str | None = None
    pid: int | None = None


class User(SQLModel, table=True):
    """A named operator who may acknowledge, silence and manage subscriptions."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True)
    password_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    disabled: bool = False


class Meta(SQLModel, table=True):
    """Small facts about the installation, e.g. when reference data was last loaded."""

    key: str = Field(primary_key=True)
    value: str
    updated_at: datetime = Field(default_factory=utcnow)


class JobSlot(SQLModel, table=True):
    """One scheduled run of one job, claimed before it starts: a slot runs at most once."""

    job: str = Field(primary_key=True)
    slot: str = Field(primary_key=True)  # the scheduled time's number (see service/slots.py)
    claimed_at: datetime = Field(default_factory=utcnow, index=True)
    host: str | None = None
    pid: int | None = None


class WebSession(SQLModel, table=True):
    """A signed-in operator's session; the cookie carries its token, the table its hash."""

    id: str = Field(primary_key=True, max_length=64)  # sha256 of the cookie's token, hex
    username: str = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class LoginFailure(SQLModel, table=True):
    """Wrong passwords counted per client and per name and client, for the growing delay."""

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    last_at: datetime = Field(default_factory=utcnow, index=True)
