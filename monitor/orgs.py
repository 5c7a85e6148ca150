"""Reference organisations: NHS trusts in England, the regions, England, and their aliases.

One alias table maps the publishers' spellings (``NHS ENGLAND EAST OF ENGLAND ``, ``East``,
``East of England Commissioning Region``, ``TOTAL``, ``Eng``...) to ``ENG`` or a region code.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from monitor.models import Organisation, utcnow
from monitor.periods import day

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


# Words the publishers write in capitals that stay in capitals, and small words that stay
# lower case inside a name ("Isle of Wight", "Stoke-on-Trent").
_KEEP_UPPER = {
    "NHS",
    "UK",
    "CIC",
    "GP",
    "UTC",
    "MIU",
    "WIC",
    "OOH",
    "ICB",
    "UCC",
    "LLP",
    "PLC",
    "HQ",
    "II",
    "III",
    "NEMS",
    "PHL",
    "CCG",
    "ICS",
    "ICP",
    "FT",
    "SWASFT",
}
_SMALL = {"AND", "OF", "THE", "FOR", "IN", "ON", "AT", "UPON", "WITH", "BY", "UNDER"}


def _title_word(word: str, first: bool) -> str:
    parts = word.split("-")
    out = []
    for i, part in enumerate(parts):
        core = part.strip("(),.'")
        up = core.upper()
        if up in _KEEP_UPPER:
            out.append(part.upper())
        elif up in _SMALL and not (first and i == 0):
            out.append(part.lower())
        elif part.isupper() or part.islower() or (part[:1].isupper() and part[1:].islower()):
            # Capitalise after an opening bracket too: "(WAM)" -> "(Wam)".
            lead = len(part) - len(part.lstrip("(\"'"))
            out.append(part[:lead] + part[lead:].capitalize())
        else:
            out.append(part)  # mixed case such as "McKenzie": trust the publisher
    return "-".join(out)


def nhs_titlecase(name: str) -> str:
    """A display name from a publisher's spelling: ``ISLE OF WIGHT NHS TRUST`` ->
    ``Isle of Wight NHS Trust``; already well-cased names keep their capitals."""
    words = name.split()
    return " ".join(_title_word(w, i == 0) for i, w in enumerate(words))


# --- the reference list in the database -------------------------------------------------

REFERENCE_CSV = Path(__file__).parent / "data" / "organisations.csv"
REFERENCE_COLUMNS = (  # the columns of organisations.csv after `code`
    "name",
    "kind",
    "trust_type",
    "trust_subtype",
    "region",
    "icb",
    "opened",
    "closed",
    "successor",
    "source",
)


def reference_rows() -> list[dict[str, Any]]:
    """The bundled reference list (built by tools/build_orgs.py), plus England and regions."""
    out: list[dict[str, Any]] = [
        {"code": ENGLAND, "name": "England", "kind": "england", "source": "fixed"},
    ]
    out += [
        {"code": c, "name": n, "kind": "region", "region": c, "source": "fixed"}
        for c, n in REGIONS.items()
    ]
    with REFERENCE_CSV.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            row: dict[str, Any] = {k: (v or None) for k, v in r.items()}
            for k in ("opened", "closed"):
                row[k] = date.fromisoformat(row[k]) if row[k] else None
            out.append(row)
    return out


def load_reference(session: Session) -> dict[str, int]:
    """Insert or update the reference organisations. Running it twice changes nothing.

    Organisations added from publications (kind ``other``) that are not in the list are left
    alone; a row from the list overwrites only the columns the list gives.
    """
    existing = {o.code: o for o in session.exec(select(Organisation))}
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for row in reference_rows():
        org = existing.get(row["code"])
        values: dict[str, Any] = {k: row.get(k) for k in REFERENCE_COLUMNS}
        values["source"] = values["source"] or ""
        if org is None:
            session.add(Organisation(code=row["code"], **values))
            counts["added"] += 1
            continue
        changed = {k: v for k, v in values.items() if getattr(org, k) != v}
        if changed:
            for k, v in changed.items():
                setattr(org, k, v)
            org.updated_at = utcnow()
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return counts


def ensure_orgs(session: Session, seen: dict[str, str | None]) -> list[str]:
    """Add organisations a publication names but the reference list lacks, as kind ``other``
    with the publisher's name. ``seen`` maps code -> publisher's name. Returns codes added."""
    if not seen:
        return []
    known = set(session.exec(select(Organisation.code).where(col(Organisation.code).in_(seen))))
    added = []
    for code, name in sorted(seen.items()):
        if code in known or is_aggregate(code):
            continue
        session.add(
            Organisation(
                code=code,
                name=nhs_titlecase(name or code),
                kind="other",
                source="named in a publication",
            )
        )
        added.append(code)
    return added


def region_map(session: Session) -> dict[str, str]:
    """org code -> region code, for parsers that derive regional figures."""
    q = select(Organisation.code, Organisation.region).where(
        col(Organisation.region).is_not(None), col(Organisation.kind).in_(("trust", "other"))
    )
    return {code: region for code, region in session.exec(q) if region}


MAX_CHAIN = 10  # successors of successors followed at most this far


def final_successor(session: Session, org: Organisation) -> Organisation | None:
    """The open organisation a closed one's services went to, following successors of
    successors (RA4 -> RH5); None when it names none."""
    seen = {org.code}
    current = org
    for _ in range(MAX_CHAIN):
        if not current.successor or current.successor in seen:
            break
        nxt = session.get(Organisation, current.successor)
        if nxt is None:
            break
        seen.add(nxt.code)
        current = nxt
        if current.closed is None:
            break
    return current if current is not org else None


def closed_words(session: Session, org: Organisation) -> str:
    """Why a closed organisation cannot be subscribed to, naming its successor where it has
    one: "RA4 (Yeovil ...) closed on 31 March 2023 and merged into Somerset NHS Foundation
    Trust (RH5): subscribe to RH5 instead"."""
    words = f"{org.code} ({org.name}) closed on {day(org.closed)}"
    succ = final_successor(session, org)
    if succ is None:
        return words
    return f"{words} and merged into {succ.name} ({succ.code}): subscribe to {succ.code} instead"


def predecessors(session: Session, code: str) -> list[Organisation]:
    """Organisations that closed into ``code``, and theirs before them, oldest closure last."""
    found: list[Organisation] = []
    todo, seen = [code], {code}
    for _ in range(MAX_CHAIN):
        if not todo:
            break
        q = select(Organisation).where(col(Organisation.successor).in_(todo))
        todo = []
        for o in session.exec(q.order_by(col(Organisation.closed).desc(), col(Organisation.code))):
            if o.code not in seen:
                seen.add(o.code)
                found.append(o)
                todo.append(o.code)
    return found


def merged_codes(session: Session, today: date) -> set[str]:
    """Codes of organisations closed into a successor by ``today``: their alerts ended with
    the merger (monitor/mergers.py), so the rules no longer open any for them."""
    q = select(Organisation.code).where(
        col(Organisation.closed).is_not(None),
        col(Organisation.closed) <= today,
        col(Organisation.successor).is_not(None),
    )
    return set(session.exec(q))


def get(session: Session, code: str) -> Organisation | None:
    return session.get(Organisation, code.strip().upper())


def as_dict(org: Organisation) -> dict[str, Any]:
    """The fields `monitor orgs --json` prints."""
    return {
        "code": org.code,
        "name": org.name,
        "kind": org.kind,
        "trust_type": org.trust_type,
        "trust_subtype": org.trust_subtype,
        "region": org.region,
        "region_name": REGIONS.get(org.region or ""),
        "icb": org.icb,
        "opened": org.opened.isoformat() if org.opened else None,
        "closed": org.closed.isoformat() if org.closed else None,
        "successor": org.successor,
        "source": org.source,
    }
