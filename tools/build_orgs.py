"""Build monitor/data/organisations.csv from the real reference files under data/real/.

Run from the repository root: ``python tools/build_orgs.py``. The output is committed, so the
monitor needs none of these inputs at run time; re-run it when a reference file changes.

Inputs (provenance in data/real/SOURCES.md and monitor/data/SOURCES.md):
- data/real/ods/geographic_etr.csv: ODS NHS trusts: codes, names (upper case), region, ICB,
  open and close dates. Welsh W-codes are left out (England only).
- data/real/ods/System-Mapping.csv: provider -> ICB -> region (2025/26), mixed-case names, and
  ICB names; its non-trust providers (walk-in centres, independent sector) become kind "other".
- data/real/oversight/*.csv and data/real/oversight/derived/trust_profiles.csv: trust type and
  subtype (Trust_type / Trust_subtype), and display names of mental-health and community trusts.
- data/real/ambulance/ambsys.csv: the ambulance trusts.
- monitor/data/trust_types_curated.csv and successors.csv: small curated tables citing sources.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.orgs import REFERENCE_COLUMNS, REGIONS, code_for, nhs_titlecase  # noqa: E402

REAL = ROOT / "data" / "real"
OUT = ROOT / "monitor" / "data" / "organisations.csv"
FIELDS = ["code", *REFERENCE_COLUMNS]

OVERSIGHT_TYPES = {
    ("Acute trust", None): "acute",
    ("Ambulance trust", None): "ambulance",
    ("Mental health and community trust", "Community"): "community",
    ("Mental health and community trust", "Mental Health and Learning Disability"): "mental health",
    ("Mental health and community trust", "Care Trust"): "mental health",
}


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [{k.strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)]


def ods_date(s: str) -> str:
    return datetime.strptime(s, "%Y%m%d").date().isoformat() if s else ""


def trust_type(kind: str, subtype: str) -> str | None:
    return OVERSIGHT_TYPES.get((kind, subtype)) or OVERSIGHT_TYPES.get((kind, None))


def main() -> None:
    orgs: dict[str, dict[str, str]] = {}

    # 1. ODS trusts (England).
    for r in rows(REAL / "ods" / "geographic_etr.csv"):
        if r["National Grouping"] not in REGIONS:
            continue
        orgs[r["Organisation Code"]] = {
            "code": r["Organisation Code"],
            "name": nhs_titlecase(r["Name"]),
            "kind": "trust",
            "region": r["National Grouping"],
            "icb": r["Higher Level Health Geography"],
            "opened": ods_date(r["Open Date"]),
            "closed": ods_date(r["Close Date"]),
            "source": "ODS etr",
        }

    # 2. System mapping: better names, ICBs, and the non-trust providers.
    icb_names: dict[str, str] = {}
    for r in rows(REAL / "ods" / "System-Mapping.csv"):
        code = r["Code"].upper()
        icb_names[r["ICB Code"]] = nhs_titlecase(r["ICB Name"])
        if code in orgs:
            orgs[code]["name"] = nhs_titlecase(r["Name"])
            orgs[code]["icb"] = orgs[code]["icb"] or r["ICB Code"]
            orgs[code]["source"] += "; System-Mapping"
        elif code not in orgs:
            orgs[code] = {
                "code": code,
                "name": nhs_titlecase(r["Name"]),
                "kind": "other",
                "region": code_for(r["Region Name"]) or "",
                "icb": r["ICB Code"],
                "source": "System-Mapping",
            }

    # 3. Trust types from the Oversight Framework files; names of MH/community trusts.
    for path in sorted((REAL / "oversight").glob("*.csv")):
        for r in rows(path):
            code = r["Trust_code"]
            t = trust_type(r["Trust_type"], r["Trust_subtype"])
            o = orgs.setdefault(
                code,
                {
                    "code": code,
                    "name": r["Trust_name"],
                    "kind": "trust",
                    "region": code_for(r["Region"]) or "",
                    "source": "Oversight Framework",
                },
            )
            o["kind"] = "trust"
            o["name"] = r["Trust_name"]
            if t and not o.get("trust_type"):
                o["trust_type"], o["trust_subtype"] = t, r["Trust_subtype"]
                o["source"] += "; type from Oversight Framework"
    for r in rows(REAL / "oversight" / "derived" / "trust_profiles.csv"):
        o = orgs.get(r["org_code"])
        t = trust_type(r["Trust_type"], r["Trust_subtype"])
        if o and t and not o.get("trust_type"):
            o["trust_type"], o["trust_subtype"] = t, r["Trust_subtype"]
            o["source"] += "; type from trust_profiles (Oversight Framework Q3)"

    # 4. Ambulance trusts (the Isle of Wight NHS Trust runs an ambulance service but is acute).
    for r in rows(REAL / "ambulance" / "ambsys.csv"):
        o = orgs.get(r["Org Code"])
        if o and not o.get("trust_type"):
            o["trust_type"], o["trust_subtype"] = "ambulance", "Ambulance"
            o["source"] += "; type from AmbSYS"

    # 5. Curated tables.
    for r in rows(ROOT / "monitor" / "data" / "trust_types_curated.csv"):
        o = orgs[r["code"]]
        if not o.get("trust_type"):
            o["trust_type"], o["trust_subtype"] = r["trust_type"], r["trust_subtype"]
            o["source"] += "; type curated"
    for r in rows(ROOT / "monitor" / "data" / "successors.csv"):
        orgs[r["code"]]["successor"] = r["successor"]

    # 6. ICBs, with the region most of their providers are in.
    icb_regions: dict[str, Counter[str]] = {}
    for o in orgs.values():
        if o.get("icb") and o.get("region"):
            icb_regions.setdefault(o["icb"], Counter())[o["region"]] += 1
    for code, name in icb_names.items():
        region = icb_regions[code].most_common(1)[0][0] if code in icb_regions else ""
        orgs.setdefault(
            code,
            {
                "code": code,
                "name": name,
                "kind": "icb",
                "region": region,
                "source": "System-Mapping",
            },
        )

    untyped = [c for c, o in orgs.items() if o["kind"] == "trust" and not o.get("trust_type")]
    if untyped:
        raise SystemExit(f"trusts without a type (add them to trust_types_curated.csv): {untyped}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, FIELDS, lineterminator="\n")
        w.writeheader()
        for code in sorted(orgs):
            w.writerow({k: orgs[code].get(k, "") for k in FIELDS})
    kinds = Counter(o["kind"] for o in orgs.values())
    print(f"wrote {OUT.relative_to(ROOT)}: {dict(kinds)}")


if __name__ == "__main__":
    main()
