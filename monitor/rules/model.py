"""The rule schema: one TOML file per rule, validated by pydantic, one model per kind.

Shape is checked by pydantic (unknown keys, wrong types, unknown kinds); meaning is checked by
``semantic_problems`` (unknown metric, a threshold on the wrong side of the metric's good
direction, levels out of date order, a hysteresis level on the wrong side, test tables that do
not fit the rule). The loader (monitor/rules/load.py) runs both and reports every problem at once.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from monitor import metrics
from monitor.metrics import Metric
from monitor.vocab import FindingState, Severity

MISSING = "_"  # a missing value in a test table, as in promtool's expanding notation

# The CQC's four-point scale, best first; the ordinal is the position + 1.
CQC_RATINGS = ("Outstanding", "Good", "Requires improvement", "Inadequate")
CQC_OTHER = ("Insufficient evidence to rate", "Not rated")
CQC_DOMAINS = ("Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led")
ANY = "any"
DEFAULT_TEST_START = date(2025, 4, 1)


def _figure(v: object) -> object:
    if isinstance(v, str) and v != MISSING:
        raise ValueError(f"{v!r} is not a number or {MISSING!r} (no figure)")
    return v


# A value in a test table: a number, or "_" for a period without a figure.
Figure = Annotated[float | str, BeforeValidator(_figure)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Level(_Strict):
    """A threshold in force for periods starting on or after ``from``."""

    from_: date = Field(alias="from")
    value: float
    clear: float | None = None  # hysteresis level for this level; else the rule's ``clear``
    source: str = Field(min_length=1)


class Scope(_Strict):
    """Which organisations a rule applies to. Empty lists mean "all"."""

    kinds: tuple[str, ...] = ("trust",)
    trust_types: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()
    exclude_orgs: tuple[str, ...] = ()

    def matches(self, kind: str, trust_type: str | None, region: str | None, code: str) -> bool:
        """True when an organisation with these facts is in scope."""
        if code in self.exclude_orgs:
            return False
        if self.orgs and code not in self.orgs:
            return False
        if self.kinds and kind not in self.kinds:
            return False
        if self.trust_types and (trust_type or "").lower() not in {
            t.lower() for t in self.trust_types
        }:
            return False
        return not self.regions or region in self.regions


class RatingCase(_Strict):
    """One CQC rating in a test table."""

    date: date
    rating: str
    subject: str = "TEST"
    subject_type: Literal["provider", "location"] = "provider"
    service: str = ""
    domain: str = "Overall"
    inherited: bool = False


class CalendarCase(_Strict):
    """A publisher's calendar facts in a test table (for ``stale`` rules with mode = "late")."""

    as_of: date
    expected_next: date
    grace_days: int = Field(0, ge=0)
    latest_period: date | None = None


class OrgCase(_Strict):
    """The organisation a test table is evaluated for (defaults fit the rule's scope)."""

    code: str = "TEST"
    kind: str | None = None
    trust_type: str | None = None
    region: str | None = None


class TestCase(_Strict):
    """A series in, the expected state per period out (``monitor rules test``)."""

    __test__ = False  # not a pytest class

    name: str = Field(min_length=1)
    start: date | None = None  # the first period; default: the first level's date, or April 2025
    values: tuple[Figure, ...] = ()
    denominators: tuple[float, ...] = ()
    series: dict[str, tuple[Figure, ...]] = Field(default_factory=dict)
    # Figures of other trusts of the same type, one list per trust (``peer`` rules).
    peers: tuple[tuple[Figure, ...], ...] = ()
    ratings: tuple[RatingCase, ...] = ()
    calendar: CalendarCase | None = None
    org: OrgCase = OrgCase()
    expect: tuple[FindingState, ...]
    thresholds: tuple[Figure, ...] = ()  # the level in force per period ("_": none)


class _RuleBase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")  # the file name, set by the loader
    version: str = ""  # sha256 of the file's bytes, set by the loader
    title: str = Field(min_length=1)
    why: str = Field(min_length=1)
    metric: str | None = None
    severity: Severity
    scope: Scope = Scope()
    for_periods: int = Field(1, ge=1, le=36)
    clear: float | None = None
    min_denominator: float | None = Field(None, ge=0)
    authored_by: str = Field(min_length=1)
    checked_by: str = Field(min_length=1)
    next_review: date
    source: str = Field(min_length=1)
    supersedes: tuple[str, ...] = ()
    # "alert": opens alerts and emails; "context": evaluated and shown (trust pages, the league,
    # the digest's summary) but never opens an alert: a rule that fires for most organisations
    # describes the NHS, not the trust.
    role: Literal["alert", "context"] = "alert"
    tests: tuple[TestCase, ...] = ()

    @property
    def catalogue(self) -> Metric | None:
        """The metric's catalogue entry (None for composite rules or an unknown metric)."""
        return metrics.METRICS.get(self.metric) if self.metric else None

    def depends_on(self) -> tuple[str, ...]:
        """Ids of the rules this rule combines (composite kinds only)."""
        return ()


class Absent(_Strict):
    """What a period without a figure means when another metric was published for it.

    The Oversight Framework flags a trust's Recovery Support Programme membership only while it
    is in the programme: a later quarter with the trust's segment but no flag means it has left.
    """

    metric: str  # the companion metric, published for every organisation the rule watches
    value: float  # the figure a period with the companion's figure but none of its own counts as


class ThresholdRule(_RuleBase):
    """The value is below/above a level; levels may change on effective dates."""

    kind: Literal["threshold"]
    when: Literal["below", "above", "at_or_below", "at_or_above"]
    value: float | None = None
    levels: tuple[Level, ...] = ()
    absent: Absent | None = None

    def effective_levels(self) -> tuple[Level, ...]:
        """The levels in date order; a single ``value`` is one level in force from the start."""
        if self.levels:
            return self.levels
        assert self.value is not None
        return (Level(from_=date.min, value=self.value, source=self.source),)


class TrendRule(_RuleBase):
    """Worse than the period before for ``periods`` consecutive periods."""

    kind: Literal["trend"]
    periods: int = Field(2, ge=1, le=24)
    by_at_least: float = Field(0, ge=0)


class ChangeRule(_RuleBase):
    """Worse by at least ``by_at_least`` against the previous period or a year earlier."""

    kind: Literal["change"]
    against: Literal["previous", "year_ago"]
    by_at_least: float = Field(gt=0)
    relative: bool = False  # by_at_least is a percentage of the earlier value


class RatingRule(_RuleBase):
    """A CQC rating in a set, or any downgrade (inherited ratings are not downgrades)."""

    kind: Literal["rating"]
    in_: tuple[str, ...] = Field((), alias="in")
    downgrade: bool = False
    domain: str = "Overall"
    service: str = ""  # "" = the organisation as a whole; a service name; or "any"
    subjects: Literal["provider", "location", "any"] = "any"


class RankRule(_RuleBase):
    """Oversight Framework: a segment at or beyond N, bottom N of the peer group, or fallen."""

    kind: Literal["rank"]
    at_or_beyond: int | None = Field(None, ge=1)
    bottom: int | None = Field(None, ge=1)
    fallen: bool = False


class StaleRule(_RuleBase):
    """No figure for a period published for other organisations, or a publisher running late."""

    kind: Literal["stale"]
    mode: Literal["missing", "late"]
    # mode "missing": an organisation is watched once it has had a figure for this many
    # published periods in a row; one that appears now and then (a mental-health trust with a
    # shared cancer patient) is not missing when it does not appear.
    reported_for: int = Field(3, ge=1, le=24)


# Which Making Data Count special causes an ``spc`` rule counts, by NHSRplotthedots' rules.
SpcCause = Literal["beyond_limit", "trend", "two_in_three", "shift"]
SPC_CAUSES: tuple[SpcCause, ...] = ("beyond_limit", "trend", "two_in_three", "shift")


class SpcRule(_RuleBase):
    """Making Data Count: special-cause concern at a point, and/or a consistently failing
    assurance against the metric's target (monitor/spc, NHSRplotthedots' defaults)."""

    kind: Literal["spc"]
    special_causes: tuple[SpcCause, ...] = SPC_CAUSES  # () = assurance only
    failing_assurance: bool = False  # the target lies beyond the limits on the good side
    worse_than: float | None = None  # a severe level the figure must also be worse than


class PeerRule(_RuleBase):
    """Among the worst ``worst_percent`` of the trusts of the same type, for the same period."""

    kind: Literal["peer"]
    worst_percent: float = Field(gt=0, le=50)
    clear_percent: float | None = Field(None, gt=0, le=100)  # resolves only outside this share
    min_peers: int = Field(10, ge=2)  # fewer trusts of the type with a figure: not assessed


class AllOfRule(_RuleBase):
    """Firing while every named rule is firing for the organisation."""

    kind: Literal["all_of"]
    rules: tuple[str, ...] = Field(min_length=2)

    def depends_on(self) -> tuple[str, ...]:
        return self.rules


class AnyOfRule(_RuleBase):
    """Firing while any named rule is firing for the organisation."""

    kind: Literal["any_of"]
    rules: tuple[str, ...] = Field(min_length=2)

    def depends_on(self) -> tuple[str, ...]:
        return self.rules


Rule = Annotated[
    ThresholdRule
    | TrendRule
    | ChangeRule
    | RatingRule
    | RankRule
    | StaleRule
    | SpcRule
    | PeerRule
    | AllOfRule
    | AnyOfRule,
    Field(discriminator="kind"),
]
RULE: TypeAdapter[Rule] = TypeAdapter(Rule)
KIND_MODELS: tuple[type[BaseModel], ...] = (
    ThresholdRule,
    TrendRule,
    ChangeRule,
    RatingRule,
    RankRule,
    StaleRule,
    SpcRule,
    PeerRule,
    AllOfRule,
    AnyOfRule,
)
KINDS = (
    "threshold",
    "trend",
    "change",
    "rating",
    "rank",
    "stale",
    "spc",
    "peer",
    "all_of",
    "any_of",
)


def parse_rule(data: dict[str, Any]) -> Rule:
    """Validate the shape of one rule (raises pydantic.ValidationError)."""
    return RULE.validate_python(data)
