"""CQC Syndication API bodies -> rating records (pure).

One body (``GET /providers/{id}`` or ``/locations/{id}``) gives the organisation's current
ratings (overall, five key questions, each service or population group), its historic ratings,
and, for organisations assessed under the single assessment framework, ``assessment[]`` blocks
with a rating and percentage score per assessment service group and key question.

Inherited ratings. After a merger or transfer CQC shows the predecessor's ratings on the new
organisation; the API marks them with an ``organisationId`` that is not the organisation's own
id, and the body lists the predecessor under ``relationships`` as "HSCA Predecessor". Such
records carry ``inherited=True`` and ``inherited_from``. An inherited rating is the subject's
rating (it is displayed as such) but it is not a new judgement: the rules never count it as an
upgrade or downgrade.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

from monitor.sources.cqc.records import RatingRecord
from monitor.sources.cqc.values import (
    UnknownRating,
    normalise_domain,
    normalise_rating,
    region_code,
    service_name,
)

REPORT_URL = "https://api.service.cqc.org.uk/public/v1/reports/{link}"


@dataclass(slots=True, kw_only=True)
class BodyRatings:
    """What one API body says about one organisation."""

    kind: str  # provider | location
    subject_id: str
    name: str
    provider_id: str
    type: str | None
    region: str | None  # Y56..Y63
    registration_status: str | None
    records: list[RatingRecord] = field(default_factory=list)
    location_ids: list[str] = field(default_factory=list)  # a provider's registered locations
    problems: list[str] = field(default_factory=list)  # ratings left out, and why
    unknown_words: bool = False  # some rating was left out for an unknown word

    @property
    def deregistered(self) -> bool:
        return (self.registration_status or "").lower() == "deregistered"

    @property
    def overall(self) -> RatingRecord | None:
        """The current whole-organisation overall rating, if the body has one."""
        for r in self.records:
            if r.current and r.service == "" and r.domain == "Overall":
                return r
        return None


class BodyError(ValueError):
    """A body that is not a usable provider or location: the message says why."""


def load_body(data: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object of a body; BodyError for an HTML page, malformed JSON or a non-object."""
    if isinstance(data, Mapping):
        return dict(data)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html", "<")):
        raise BodyError("an HTML page, not a JSON body (the API gateway's error page?)")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise BodyError(f"malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise BodyError(f"JSON {type(obj).__name__}, not an object")
    return obj


def _date(raw: Any) -> date | None:
    if not isinstance(raw, str) or len(raw) < 10:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


class _Reader:
    """Walks one body, collecting records and the problems met on the way."""

    def __init__(self, body: dict[str, Any], out: BodyRatings) -> None:
        self.out = out
        self.own = out.subject_id.upper()
        self.areas = {
            str(a.get("inspectionAreaId")): str(a.get("inspectionAreaName"))
            for a in body.get("inspectionAreas") or []
            if isinstance(a, dict) and a.get("inspectionAreaId") and a.get("inspectionAreaName")
        }
        # Report link -> the organisation whose report it is. An item without its own
        # organisationId (RM317's current overall) is traced to its predecessor this way.
        self.link_origin: dict[str, str] = {}
        for item in _walk(body.get("currentRatings"), body.get("historicRatings")):
            org, link = item.get("organisationId"), item.get("reportLinkId")
            if isinstance(org, str) and isinstance(link, str) and org.upper() != self.own:
                self.link_origin.setdefault(link, org.upper())

    def unknown(self, where: str, error: UnknownRating) -> None:
        """Note a word the rating vocabulary does not know, naming where it stood."""
        self.out.problems.append(f"{where}: {error}")
        self.out.unknown_words = True

    def origin(self, item: Mapping[str, Any], parent: str | None) -> str | None:
        org = item.get("organisationId")
        if isinstance(org, str) and org:
            return None if org.upper() == self.own else org.upper()
        link = item.get("reportLinkId")
        if isinstance(link, str) and link in self.link_origin:
            return self.link_origin[link]
        return parent

    def add(
        self,
        item: Mapping[str, Any],
        *,
        service: str,
        domain: str,
        parent_date: date | None,
        parent_link: str | None,
        parent_origin: str | None,
        current: bool,
        score: int | None = None,
    ) -> None:
        where = f"{service or 'whole organisation'} / {domain}"
        try:
            norm = normalise_rating(item.get("rating"))
        except UnknownRating as e:
            self.unknown(where, e)
            return
        if norm is None:
            return
        if norm[1] is None and not current:
            # An inspection that did not rate ("Inspected but not rated") leaves the rating
            # from before it standing; kept in history it would read as replacing that rating.
            return
        link = item.get("reportLinkId") if isinstance(item.get("reportLinkId"), str) else None
        origin = self.origin(item, parent_origin)
        self.out.records.append(
            RatingRecord(
                subject_type=self.out.kind,
                subject_id=self.out.subject_id,
                subject_name=self.out.name,
                org=self.out.provider_id,
                service=service,
                domain=domain,
                rating=norm[0],
                ordinal=norm[1],
                report_date=_date(item.get("reportDate")) or parent_date,
                report_link=REPORT_URL.format(link=link) if link else parent_link,
                inherited=origin is not None,
                inherited_from=origin,
                score=score,
                current=current,
            )
        )

    def block(
        self,
        item: Mapping[str, Any],
        *,
        service: str,
        current: bool,
        parent_date: date | None = None,
        parent_link: str | None = None,
        parent_origin: str | None = None,
    ) -> None:
        """A rating with its key questions (an overall, a service, an assessment group)."""
        origin = self.origin(item, parent_origin)
        when = _date(item.get("reportDate")) or parent_date
        link_id = item.get("reportLinkId")
        link = REPORT_URL.format(link=link_id) if isinstance(link_id, str) else parent_link
        self.add(
            item,
            service=service,
            domain="Overall",
            parent_date=when,
            parent_link=link,
            parent_origin=origin,
            current=current,
        )
        for kq in item.get("keyQuestionRatings") or []:
            if not isinstance(kq, dict):
                continue
            try:
                domain = normalise_domain(kq.get("name"))
            except UnknownRating as e:
                self.unknown(service or "whole organisation", e)
                continue
            self.add(
                kq,
                service=service,
                domain=domain,
                parent_date=when,
                parent_link=link,
                parent_origin=origin,
                current=current,
                score=_score(kq.get("percentageScore")),
            )


def _walk(*roots: Any) -> Iterator[dict[str, Any]]:
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _score(raw: Any) -> int | None:
    try:
        return int(str(raw)) if raw not in (None, "") else None
    except ValueError:
        return None


def parse_body(data: bytes | str | Mapping[str, Any]) -> BodyRatings:
    """Rating records of one provider or location body.

    1. Identify the organisation (a body with ``locationId`` is a location).
    2. Current ratings: overall and its key questions; each service with its key questions.
    3. Historic ratings (``current=False``), each dated by its entry's report.
    4. Single-assessment-framework ``assessment[]``: each assessment service group's rating
       and key questions with their percentage scores. When the body has no current overall
       and exactly one current group, that group's ratings are also the whole organisation's
       (a GP practice or care home assessed under the new framework).

    Raises BodyError for a body that is not JSON or names no organisation. Ratings with words
    the monitor does not know are left out and described in ``problems``.
    """
    body = load_body(data)
    out = _identify(body)
    reader = _Reader(body, out)
    has_overall = _current(body, reader)
    _historic(body, reader)
    _assessments(body, reader, has_overall=has_overall)
    if out.overall is None:
        out.problems.append(f"no current overall rating ({_why_no_overall(body)})")
    out.records = _distinct(out.records)
    return out


def _identify(body: dict[str, Any]) -> BodyRatings:
    """The organisation a body describes, with no ratings yet (step 1)."""
    loc = body.get("locationId")
    kind = "location" if isinstance(loc, str) and loc else "provider"
    sid = loc if kind == "location" else body.get("providerId")
    if not isinstance(sid, str) or not sid:
        raise BodyError("no locationId or providerId: not a provider or location body")
    provider = body.get("providerId") if isinstance(body.get("providerId"), str) else sid
    return BodyRatings(
        kind=kind,
        subject_id=sid.upper(),
        name=str(body.get("name") or ""),
        provider_id=str(provider).upper(),
        type=body.get("type") if isinstance(body.get("type"), str) else None,
        region=region_code(body.get("region") if isinstance(body.get("region"), str) else None),
        registration_status=body.get("registrationStatus"),
        location_ids=[str(x).upper() for x in body.get("locationIds") or [] if x],
    )


def _current(body: dict[str, Any], reader: _Reader) -> bool:
    """The current overall and service ratings (step 2); whether there is an overall."""
    raw = body.get("currentRatings")
    current: dict[str, Any] = raw if isinstance(raw, dict) else {}
    overall = current.get("overall")
    if isinstance(overall, dict):
        reader.block(overall, service="", current=True)
    for svc in current.get("serviceRatings") or []:
        if isinstance(svc, dict):
            name = service_name(svc.get("name"), reader.areas)
            reader.block(
                svc, service=name, current=True, parent_date=_date(current.get("reportDate"))
            )
    return isinstance(overall, dict)


def _historic(body: dict[str, Any], reader: _Reader) -> None:
    """Each historic entry's overall and service ratings, dated by its report (step 3)."""
    for entry in body.get("historicRatings") or []:
        if not isinstance(entry, dict):
            continue
        link_id = entry.get("reportLinkId")
        dated = partial(
            reader.block,
            current=False,
            parent_date=_date(entry.get("reportDate")),
            parent_link=REPORT_URL.format(link=link_id) if isinstance(link_id, str) else None,
            parent_origin=reader.origin(entry, None),
        )
        if isinstance(entry.get("overall"), dict):
            dated(entry["overall"], service="")
        for svc in entry.get("serviceRatings") or []:
            if isinstance(svc, dict):
                dated(svc, service=service_name(svc.get("name"), reader.areas))


def _why_no_overall(body: dict[str, Any]) -> str:
    current = body.get("currentRatings")
    if not isinstance(current, dict):
        return "no currentRatings"
    overall = current.get("overall")
    if not isinstance(overall, dict):
        return "currentRatings without overall"
    return f"overall: {overall.get('rating')!r}"


def _distinct(records: list[RatingRecord]) -> list[RatingRecord]:
    """One record per rating version; the current one wins over the same historic entry."""
    by_key: dict[tuple[str, str, str, date | None, str], RatingRecord] = {}
    for r in records:
        seen = by_key.get(r.key)
        if seen is None or (r.current and not seen.current):
            by_key[r.key] = r
    return list(by_key.values())


def _assessments(body: dict[str, Any], reader: _Reader, *, has_overall: bool) -> None:
    """The single assessment framework's groups, live and past (step 4)."""
    groups: list[tuple[dict[str, Any], date | None]] = []
    for a in body.get("assessment") or []:
        if not isinstance(a, dict):
            continue
        published = _date(a.get("assessmentPlanPublishedDateTime"))
        for asg in (a.get("ratings") or {}).get("asgRatings") or []:
            if isinstance(asg, dict):
                groups.append((asg, published or _date(asg.get("assessmentDate"))))
    live = [g for g in groups if str(g[0].get("status", "")).lower() == "current"]
    for asg, when in groups:
        is_live = any(asg is g for g, _ in live)
        reader.block(
            asg,
            service=service_name(asg.get("name")),
            current=is_live,
            parent_date=when,
        )
    if not has_overall and len(live) == 1:
        reader.block(live[0][0], service="", current=True, parent_date=live[0][1])
