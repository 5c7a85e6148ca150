"""docs/rules.md documents every key a rule file may hold."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.rules.model import KIND_MODELS, CalendarCase, OrgCase, RatingCase, Scope, TestCase

DOC = (Path(__file__).resolve().parent.parent.parent / "docs" / "rules.md").read_text()
SET_BY_THE_LOADER = {"id", "version"}


def _documented(key: str) -> bool:
    return bool(re.search(rf"`{key}`|\b{key} =|\b{key}:", DOC))


def test_every_key_of_every_kind_is_documented() -> None:
    models = [*KIND_MODELS, Scope, TestCase, RatingCase, CalendarCase, OrgCase]
    keys = {
        field.alias or name
        for model in models
        for name, field in model.model_fields.items()
        if name not in SET_BY_THE_LOADER
    }
    assert sorted(k for k in keys if not _documented(k)) == []


def test_every_kind_has_a_section() -> None:
    from monitor.rules.model import KINDS

    for kind in KINDS:
        assert f'kind = "{kind}"' in DOC or f"{kind}" in DOC.split("## Kinds")[1], kind
