"""Reference organisations: NHS trusts in England, the regions, England, and their aliases.

One alias table maps the publishers' spellings (``NHS ENGLAND EAST OF ENGLAND ``, ``East``,
``East of England Commissioning Region``, ``TOTAL``, ``Eng``...) to ``ENG`` or a region code.
"""

from __future__ import annotations

import re

ENGLAND = "ENG"

REGIONS: dict[str, str] = {
    "Y56": "London",
    "Y58": "South West",
    "Y59": "South East",
    "Y60": "Midlands",
    "Y61": "East of England",
    "Y62": "North West",
    "Y63": "North East and Yorkshire",
}

# Keys are normalised with _norm(): upper case, "&" as "AND", punctuation and repeated spaces
# removed, so "North East & Yorkshire Region" and "NHS ENGLAND NORTH EAST AND YORKSHIRE " meet.
_ALIASES: dict[str, str] = {}


def _norm(name: str) -> str:
    s = name.upper().replace("&", " AND ")
    s = re.sub(r"[^A-Z0-9 ]+", " ", s)
    return " ".join(s.split())


def _add(code: str, *names: str) -> None:
    for n in names:
        _ALIASES[_norm(n)] = code


_add(ENGLAND, "ENG", "England", "TOTAL", "Total", "Eng", "National", "NHS England")
for _code, _name in REGIONS.items():
    _add(
        _code,
        _code,
        _name,
        f"NHS England {_name}",
        f"{_name} Commissioning Region",
        f"{_name} Region",
        f"NHS England - {_name}",
    )
# Short and historic spellings seen in NHS England and CQC files.
_add("Y61", "East", "East Region", "East of England Region", "NHS England East")
_add(
    "Y63",
    "North East & Yorkshire",
    "North East and Yorkshire Region",
    "North East & Yorkshire Region",
)
_add("Y60", "Midlands Region", "East Midlands and West Midlands")


def code_for(name: str | None) -> str | None:
    """``ENG`` or a region code for a publisher's spelling, or None when it is neither."""
    if name is None:
        return None
    return _ALIASES.get(_norm(name))


def name_for(code: str) -> str:
    """Display name of ``ENG`` or a region code."""
    if code == ENGLAND:
        return "England"
    return REGIONS[code]


def is_aggregate(code: str) -> bool:
    """True for England and the regions (figures that are not one organisation's)."""
    return code == ENGLAND or code in REGIONS
