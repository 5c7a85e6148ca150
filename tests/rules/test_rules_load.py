"""Loading rule files: every problem at once, with its file and key.

tests/data/rules_bad/ holds one file per mistake; this table says what each must report.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from monitor.rules.load import RuleFileError, RulePack, load_or_raise, load_rules

BAD = Path(__file__).resolve().parent.parent / "data" / "rules_bad"
TODAY = date(2026, 1, 1)

MISTAKES = [
    # file                       key                   the message says
    ("unknown_metric",           "metric",             "unknown metric 'ae_4h_pct'; did you mean"),
    ("unknown_kind",             "kind",               "unknown kind 'thresold'; use one of"),
    ("threshold_as_fraction",    "value",              "0.6 looks like a fraction"),
    ("threshold_wrong_way",      "when",               "'above' alerts when ae_4hr_type1_pct is"),
    ("level_not_a_number",       "levels[0].value",    "valid number"),
    ("levels_out_of_order",      "levels[1].from",     "levels must be in date order"),
    ("clear_on_the_wrong_side",  "clear",              "58 must be at or above the threshold 60"),
    ("misspelt_key",             "for_period",         "unknown key (misspelt, or not"),
    ("missing_source",           "source",             "required"),
    ("unknown_severity",         "severity",           "or 'critical' (got 'urgent')"),
    ("test_value_not_a_number",  "tests[0].values[1]", "'fifty' is not a number or '_'"),
    ("test_state_misspelt",      "tests[0].expect[1]", "'pending' or 'firing' (got 'fireing')"),
    ("test_lengths_differ",      "tests[0].expect",    "2 expected states for 3 values"),
    ("supersedes_unknown_rule",  "supersedes[0]",      "no rule 'ae_type1_below_95' in"),
    ("combines_unknown_rule",    "rules[1]",           "no rule 'no_such_rule' in"),
    ("cycle_a",                  "rules",              "in a cycle: cycle_a -> cycle_b -> cycle_a"),
    ("not_toml",                 "",                   "not valid TOML: Invalid value (at line 6"),
    ("id_in_the_file",           "id",                 "set from the file (id = file name"),
    ("review_not_a_date",        "next_review",        "valid date"),
    ("rating_misspelt",          "in[0]",              "did you mean 'Requires improvement'?"),
    ("rank_two_modes",           "at_or_beyond",       "give exactly one of at_or_beyond = N"),
    ("combined_with_metric",     "metric",             "kind 'any_of' combines rules by id"),
    ("clear_not_used",           "clear",              "not used by kind 'trend'"),
    ("unknown_region",           "scope.regions[0]",   "unknown region 'Y99'; use Y56, Y58"),
]  # fmt: skip


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_rules(BAD, today=TODAY)


@pytest.mark.parametrize(("name", "key", "says"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_reported_with_file_and_key(
    pack: RulePack, name: str, key: str, says: str
) -> None:
    file = str(BAD / f"{name}.toml")
    errors = [p for p in pack.errors if p.file == file]
    assert len(errors) == 1, "\n".join(map(str, errors))
    (problem,) = errors
    assert problem.key == key
    assert says in problem.message
    where = f"{file}: key '{key}': " if key else f"{file}: "
    assert str(problem).startswith(where)


def test_every_fixture_is_in_the_table(pack: RulePack) -> None:
    named = {m[0] for m in MISTAKES} | {"cycle_b", "review_overdue"}
    assert {p.stem for p in BAD.glob("*.toml")} == named
    assert not [p for p in pack.errors if Path(p.file).stem in ("cycle_b", "review_overdue")]


def test_a_misspelt_key_suggests_the_right_one(pack: RulePack) -> None:
    (problem,) = [p for p in pack.errors if p.key == "for_period"]
    assert problem.message.endswith("did you mean 'for_periods'?")


def test_every_problem_is_reported_at_once(pack: RulePack) -> None:
    assert len(pack.errors) == len(MISTAKES)
    with pytest.raises(RuleFileError) as e:
        load_or_raise(BAD, today=TODAY)
    assert len(str(e.value).splitlines()) == len(MISTAKES)


def test_an_overdue_review_is_a_warning_unless_strict() -> None:
    relaxed = load_rules(BAD, today=TODAY)
    strict = load_rules(BAD, today=TODAY, strict=True)
    file = str(BAD / "review_overdue.toml")
    (warning,) = [p for p in relaxed.warnings if p.file == file]
    assert str(warning) == (
        f"{file}: key 'next_review': warning: review was due on 2020-01-01 (2192 days ago): "
        "check the threshold and its source, then move the date on"
    )
    assert [p.key for p in strict.errors if p.file == file] == ["next_review"]
    assert "review_overdue" in relaxed.rules and "review_overdue" in strict.rules


def test_the_rule_version_is_the_hash_of_the_file(tmp_path: Path) -> None:
    import hashlib

    text = (BAD / "review_overdue.toml").read_bytes()
    (tmp_path / "a_rule.toml").write_bytes(text)
    rule = load_rules(tmp_path, today=TODAY).rules["a_rule"]
    assert rule.id == "a_rule"
    assert rule.version == hashlib.sha256(text).hexdigest()


def test_an_empty_or_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert [str(p) for p in load_rules(tmp_path).errors] == [f"{tmp_path}: no rule files (*.toml)"]
    assert load_rules(tmp_path / "nope").errors[0].message == "no such directory"


def test_the_check_report_lists_every_problem_and_fails(tmp_path: Path) -> None:
    from monitor.rules.load import check_report

    text, status = check_report(load_rules(BAD, today=TODAY))
    assert status == 1
    assert text.splitlines()[-1].endswith(f"{len(MISTAKES)} error(s), 1 warning(s)")
    (tmp_path / "ok.toml").write_bytes((BAD / "review_overdue.toml").read_bytes())
    text, status = check_report(load_rules(tmp_path, today=TODAY))
    assert status == 0 and "warning: review was due" in text
    _, status = check_report(load_rules(tmp_path, today=TODAY, strict=True))
    assert status == 1
