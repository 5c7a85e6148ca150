"""The list of trusts (/orgs): every NHS trust, searchable by name or code, filtered by region
and type, with its integrated care board by name. A plain GET form: no JavaScript."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col
from werkzeug.datastructures import MultiDict

from monitor import orgs
from monitor.db import session_scope
from monitor.models import Organisation
from monitor.web.filters import BadFilter

MAX_QUERY = 100


@dataclass(frozen=True)
class TrustSearch:
    """What the reader asked for: words or a code, a region, a trust type."""

    q: str = ""
    region: str = ""
    trust_type: str = ""

    @property
    def active(self) -> bool:
        return bool(self.q or self.region or self.trust_type)

    def matches(self, row: dict[str, Any]) -> bool:
        if self.region and row["region"] != self.region:
            return False
        if self.trust_type and row["trust_type"] != self.trust_type:
            return False
        if not self.q:
            return True
        if row["code"].casefold() == self.q.casefold():
            return True
        # Every word asked for starts a word of the name: "kings lynn" finds King's Lynn,
        # "king" finds Kingston but not Barking.
        name = _words(row["name"])
        return all(any(n.startswith(w) for n in name) for w in _words(self.q))


def _words(text: str) -> list[str]:
    text = text.casefold().replace("'", "").replace("’", "")
    return re.sub(r"[^\w]+", " ", text).split()


def parse(args: MultiDict[str, str], trust_types: list[str]) -> TrustSearch:
    """The search from the query string; an unknown region or type is a BadFilter (400)."""
    q = " ".join(args.get("q", "").replace("\x00", " ").split())[:MAX_QUERY]
    region = args.get("region", "").strip().upper()
    trust_type = args.get("type", "").strip().lower()
    if region and region not in orgs.REGIONS:
        raise BadFilter(f"There is no region with the code {region[:16]}.")
    if trust_type and trust_type not in trust_types:
        raise BadFilter(f"There is no trust type called {trust_type[:32]}.")
    return TrustSearch(q, region, trust_type)


def icb_names(engine: Engine) -> dict[str, str]:
    """Integrated care board code -> name, from the reference organisations."""
    with session_scope(engine) as s:
        q = select(col(Organisation.code), col(Organisation.name)).where(
            col(Organisation.kind) == "icb"
        )
        return {str(code): str(name) for code, name in s.execute(q)}


def trusts(engine: Engine) -> list[dict[str, Any]]:
    """Every trust, by name: code, name, region, ICB (by name) and type."""
    names = icb_names(engine)
    with session_scope(engine) as s:
        rows = s.execute(
            select(Organisation)
            .where(col(Organisation.kind) == "trust")
            .order_by(col(Organisation.name), col(Organisation.code))
        ).scalars()
        out = []
        for o in rows:
            row = orgs.as_dict(o)
            row["icb_name"] = names.get(o.icb or "")
            out.append(row)
    return out


def trust_types(rows: list[dict[str, Any]]) -> list[str]:
    """The trust types present, in name order."""
    return sorted({r["trust_type"] for r in rows if r["trust_type"]})
