"""CQC vocabulary: rating words, key questions, service names, regions and the monitor's scope.

Both the Syndication API and the bulk ratings file spell these inconsistently (capitalisation,
``&`` for "and", short service keys such as ``npimaternity``); everything is mapped here to one
spelling so that rules can say "Maternity" or "Inadequate" once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from monitor import orgs

NHS_TYPE = "NHS Healthcare Organisation"

# NHS trust ODS codes: three characters, R or T first (RCX, RM3, TAF). CQC uses them as the
# provider ids of trusts; every other provider has a "1-123456789" id.
_TRUST_CODE = re.compile(r"^[RT][A-Z0-9]{2}$")

# The four-point scale (metrics.cqc_overall uses the same ordinals).
SCALE: dict[str, tuple[str, int]] = {
    "outstanding": ("Outstanding", 1),
    "good": ("Good", 2),
    "requires improvement": ("Requires improvement", 3),
    "inadequate": ("Inadequate", 4),
}
# Published outcomes that are not on the four-point scale: kept, with no ordinal.
NOT_ON_SCALE: dict[str, str] = {
    "inspected but not rated": "Inspected but not rated",
    "insufficient evidence to rate": "Insufficient evidence to rate",
    "regulations met": "Regulations met",
    # An outcome of a (focused) inspection that found no breach needing enforcement; it says
    # nothing on the four-point scale and leaves the ratings beside it standing.
    "no action": "No action",
}
# Nothing was published: not stored at all.
NO_RATING = frozenset({"", "no published rating"})

DOMAINS: dict[str, str] = {
    "overall": "Overall",
    "safe": "Safe",
    "effective": "Effective",
    "caring": "Caring",
    "responsive": "Responsive",
    "wellled": "Well-led",
}

# The API's short service / population-group keys, with the names CQC gives them in the
# bodies' inspectionAreas (every key seen in the Oldham snapshot).
SERVICE_NAMES: dict[str, str] = {
    "care": "Medical care (including older people's care)",
    "childrens": "Services for children and young people",
    "chsadults": "Community health services for adults",
    "chschildren": "Community health services for children, young people and families",
    "communitysexual": "Community health sexual health services",
    "conditions": "People with long term conditions",
    "critical": "Critical care",
    "diagnostic": "Diagnostic imaging",
    "diagnostics": "Diagnostic and screening services",
    "dialysis": "Dialysis services",
    "life": "End of life care",
    "maternity": "Maternity and gynaecology",
    "mhforensic": "Forensic inpatient or secure wards",
    "mhlongstay": "Long stay or rehabilitation mental health wards for working age adults",
    "mothers": "Families, children and young people",
    "npimaternity": "Maternity",
    "old": "Older people",
    "outpatients": "Outpatients and diagnostic imaging",
    "population": "Working age people (including those recently retired and students)",
    "problems": "People experiencing poor mental health (including people with dementia)",
    "surgery": "Surgery",
    "transport": "Patient transport services",
    "urgent": "Urgent and emergency services",
    "vulnerable": "People whose circumstances may make them vulnerable",
}

# CQC's own regions (the bodies' "region") folded into NHS England's seven.
_CQC_REGIONS: dict[str, str] = {
    "north east": "Y63",
    "yorkshire and the humber": "Y63",
    "yorkshire and humber": "Y63",
    "east midlands": "Y60",
    "west midlands": "Y60",
}


# NHS England region -> CQC's region names (the API's ``region`` filter and bodies' "region").
CQC_REGION_NAMES: dict[str, tuple[str, ...]] = {
    "Y56": ("London",),
    "Y58": ("South West",),
    "Y59": ("South East",),
    "Y60": ("East Midlands", "West Midlands"),
    "Y61": ("East of England",),
    "Y62": ("North West",),
    "Y63": ("North East", "Yorkshire and The Humber"),
}


class UnknownRating(ValueError):
    """A rating or key-question word the monitor does not know; never guessed."""


def _fold(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split()).lower()


# The bulk file repeats a handful of spellings 320k times: cache the lookups.
@lru_cache(maxsize=512)
def normalise_rating(raw: str | None) -> tuple[str, int | None] | None:
    """``(rating, ordinal)`` in the monitor's spelling; None when nothing was published.

    Raises UnknownRating for a word that is neither on the four-point scale nor a known
    non-rating outcome.
    """
    key = _fold(raw or "")
    if key in NO_RATING:
        return None
    if key in SCALE:
        return SCALE[key]
    if key in NOT_ON_SCALE:
        return NOT_ON_SCALE[key], None
    raise UnknownRating(f"unknown rating {raw!r}")


@lru_cache(maxsize=512)
def normalise_domain(raw: str | None) -> str:
    """Overall or one of the five key questions; raises UnknownRating for anything else."""
    key = re.sub(r"[^a-z]", "", (raw or "").lower())
    try:
        return DOMAINS[key]
    except KeyError:
        raise UnknownRating(f"unknown key question {raw!r}") from None


def service_name(raw: str | None, areas: Mapping[str, str] | None = None) -> str:
    """The display name of an API service key (``npimaternity`` -> "Maternity").

    ``areas`` maps a body's inspectionAreaId to its inspectionAreaName, which wins over the
    built-in table because CQC adds services over time. ``""`` for the whole organisation.
    """
    key = " ".join((raw or "").split())
    if areas and key in areas:
        return _tidy(areas[key])
    return service_label(SERVICE_NAMES.get(key, key))


@lru_cache(maxsize=4096)
def service_label(raw: str | None) -> str:
    """A service or population group as the bulk file names it, tidied ("&" -> "and");
    ``""`` for "Overall" (the whole organisation)."""
    text = _tidy(raw or "")
    return "" if text.lower() == "overall" else text


def _tidy(name: str) -> str:
    return " ".join(name.replace("&", "and").split())


@lru_cache(maxsize=256)
def region_code(name: str | None) -> str | None:
    """Y56..Y63 for an NHS region or a CQC region name; None when unknown."""
    if not name:
        return None
    return orgs.code_for(name) or _CQC_REGIONS.get(_fold(name).replace("&", "and"))


def is_trust_code(provider_id: str | None) -> bool:
    """True for an NHS trust's ODS code as CQC uses it for the trust's provider id."""
    return bool(provider_id) and bool(_TRUST_CODE.match(provider_id or ""))


@dataclass(frozen=True, slots=True)
class Scope:
    """Which CQC organisations the monitor keeps.

    Always NHS trusts (providers with an ODS trust code, type NHS Healthcare Organisation) and
    their locations; ``regions`` (Y56..Y63) widens it to every provider and location there.
    """

    regions: frozenset[str] = frozenset()

    def may_want_provider(self, provider_id: str) -> bool:
        """Worth fetching this provider id's body? (Decided before the body is known.)"""
        return bool(self.regions) or is_trust_code(provider_id.upper())

    def may_want_location(self, location_id: str, known: frozenset[str] | set[str]) -> bool:
        """Worth fetching this location id's body? Trusts' sites mostly carry ODS codes, not
        "1-..." ids; other sites of trusts are known from their providers' locationIds."""
        lid = location_id.upper()
        return bool(self.regions) or lid in known or not lid.startswith("1-")

    def cqc_region_names(self) -> list[str]:
        """CQC's names of the regions the scope is widened to."""
        return [n for code in sorted(self.regions) for n in CQC_REGION_NAMES.get(code, ())]

    def includes(
        self, provider_id: str | None, provider_type: str | None, region: str | None
    ) -> bool:
        """Whether an organisation (or a location of ``provider_id``) is in scope.

        ``provider_type`` is None when it is not known (a location's own type says little:
        trusts' locations carry it too, but so may a hospital run by a trust for another).
        """
        if is_trust_code(provider_id) and provider_type in (None, NHS_TYPE):
            return True
        return region is not None and region in self.regions
