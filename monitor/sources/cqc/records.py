"""The rating record every CQC reader produces, and what a rating means for rules (pure).

A ``RatingRecord`` has the shape of a models.Rating row. Inherited ratings (after a merger CQC
shows the predecessor's ratings on the new organisation) carry ``inherited=True``: they are the
subject's ratings, but not new judgements: the rules never count them as an upgrade or
downgrade (monitor/rules/conditions.py), and a trust's ``cqc_overall`` figure from one is
marked ``derived``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from monitor.metrics import Granularity
from monitor.sources.base import Figure
from monitor.sources.cqc.values import is_trust_code


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingRecord:
    """One rating, shaped like a models.Rating row.

    ``org`` is the provider the subject belongs to (the trust, for NHS trusts); ``service`` is
    ``""`` for the whole organisation; ``ordinal`` is 1-4 on the four-point scale, else None.
    """

    subject_type: str  # provider | location
    subject_id: str
    subject_name: str
    org: str
    service: str
    domain: str
    rating: str
    ordinal: int | None
    report_date: date | None
    report_link: str | None = None
    inherited: bool = False
    inherited_from: str | None = None
    score: int | None = None
    current: bool = True

    @property
    def key(self) -> tuple[str, str, str, date | None, str]:
        """What makes a rating version unique (models.Rating's uq_rating_version)."""
        return (self.subject_id, self.service, self.domain, self.report_date, self.rating)


def overall_figure(records: list[RatingRecord]) -> Figure | None:
    """The ``cqc_overall`` figure of a trust from its provider-level records, if rated.

    Value is the ordinal (1 Outstanding .. 4 Inadequate), label the words, the period the
    report date. An inherited rating gives a figure marked ``derived`` (see docs/cqc.md): the
    trust's rating, but not a judgement made on this trust.
    """
    for r in records:
        if (
            r.subject_type == "provider"
            and r.current
            and r.service == ""
            and r.domain == "Overall"
            and r.ordinal is not None
            and r.report_date is not None
            and is_trust_code(r.subject_id)
        ):
            return Figure(
                org=r.subject_id,
                metric="cqc_overall",
                period_start=r.report_date,
                period_end=r.report_date,
                granularity=Granularity.POINT,
                value=float(r.ordinal),
                label=r.rating,
                org_name=r.subject_name,
                derived=r.inherited,
            )
    return None
