"""Load a directory of rule files, reporting every problem at once with its file and key.

One rule per file, ``rules/<id>.toml``, id = file name. The rule version is the sha256 of the
file's bytes, so an alert opened under an older threshold can say which file it came from.
A ``next_review`` date in the past is a warning (an error with ``strict``), so that CI does
not break on a calendar date.
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from monitor import metrics
from monitor.rules.checks import semantic_problems, unknown_metric
from monitor.rules.model import KIND_MODELS, KINDS, Rule, TestCase, parse_rule

_INJECTED = ("id", "version")
# Keys each kind accepts (by the name used in the file), for "did you mean" hints.
_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f.alias or name for name, f in cls.model_fields.items())
    for kind, cls in zip(KINDS, KIND_MODELS, strict=True)
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a rule file, located by file and key."""

    file: str
    key: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}: key '{self.key}'" if self.key else self.file
        prefix = "warning: " if self.level == "warning" else ""
        return f"{where}: {prefix}{self.message}"


@dataclass(frozen=True)
class RulePack:
    """The rules of one directory by id, and every problem found loading them."""

    directory: Path
    rules: dict[str, Rule] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def file_of(self, rule_id: str) -> str:
        return str(self.directory / f"{rule_id}.toml")


class RuleFileError(Exception):
    """Rule files that cannot be used; the message lists every problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _key(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    if parts and parts[0] in KINDS:  # the discriminated union's tag, not a key in the file
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif str(p).startswith(("function-", "tagged-union", "union[")):
            continue
        else:
            out += f".{p}" if out else str(p)
    return out


def _translate(err: ValidationError, kind: object) -> list[tuple[str, str]]:
    out = []
    for e in err.errors():
        key, kind_of = _key(e["loc"]), e["type"]
        msg = e["msg"].removeprefix("Value error, ")
        if kind_of == "extra_forbidden":
            top = "." not in key and "[" not in key
            of = f"of kind {kind!r}" if top else "here"
            msg = f"unknown key (misspelt, or not a key {of})"
            close = difflib.get_close_matches(key, _FIELDS.get(str(kind), ()), n=1) if top else []
            if close:
                msg += f"; did you mean {close[0]!r}?"
        elif kind_of == "missing":
            msg = "required"
        elif kind_of in ("union_tag_invalid", "union_tag_not_found"):
            key = "kind"
            known = ", ".join(KINDS)
            msg = f"unknown kind {kind!r}; use one of {known}" if kind else f"required: {known}"
        elif kind_of == "string_pattern_mismatch" and key == "id":
            key, msg = "", "rule ids are lower-case letters, digits and '_': rename the file"
        elif "input" in e and kind_of not in ("model_type", "dict_type", "value_error"):
            msg = f"{msg} (got {e['input']!r})"
        out.append((key, msg))
    return out


def parse_file(path: Path, display: str) -> tuple[Rule | None, list[Problem], dict[str, Any]]:
    """One rule file: the rule (None if unusable), its own problems, and the raw table.

    The test table is validated case by case apart from the rule, so that a broken test case
    does not hide the rule's own problems (and the other way round).
    """
    raw = path.read_bytes()
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return None, [Problem(display, "", f"not valid TOML: {e}")], {}
    problems = [
        Problem(display, k, "set from the file (id = file name, version = its hash); remove it")
        for k in _INJECTED
        if k in data
    ]
    body = {k: v for k, v in data.items() if k != "tests"}
    body.update(id=path.stem, version=hashlib.sha256(raw).hexdigest())
    cases, case_problems = _cases(data.get("tests", []), display)
    try:
        rule: Rule | None = parse_rule(body)
    except ValidationError as e:
        rule = None
        problems += [Problem(display, k, m) for k, m in _translate(e, data.get("kind"))]
        metric = data.get("metric")
        if isinstance(metric, str) and metric not in metrics.METRICS:
            problems.append(Problem(display, "metric", unknown_metric(metric)))
    problems += case_problems
    if rule is not None:
        rule = rule.model_copy(update={"tests": tuple(cases)})
        problems += [Problem(display, k, m) for k, m in semantic_problems(rule)]
    return rule, problems, data


def _cases(raw: object, display: str) -> tuple[list[TestCase], list[Problem]]:
    if not isinstance(raw, list):
        return [], [Problem(display, "tests", "must be a table array: [[tests]]")]
    cases, problems = [], []
    for i, item in enumerate(raw):
        try:
            cases.append(TestCase.model_validate(item))
        except ValidationError as e:
            problems += [
                Problem(display, f"tests[{i}].{k}" if k else f"tests[{i}]", m)
                for k, m in _translate(e, None)
            ]
    return cases, problems


def _ids(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _cycles(rules: dict[str, Rule], edges: str) -> list[list[str]]:
    """Cycles through ``supersedes`` or combined ``rules`` (each reported once)."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def targets(r: Rule) -> tuple[str, ...]:
        return r.supersedes if edges == "supersedes" else r.depends_on()

    def visit(rid: str, path: list[str]) -> None:
        if rid in path:
            cycle = path[path.index(rid) :] + [rid]
            if frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                found.append(cycle)
            return
        rule = rules.get(rid)
        if rule is not None:
            for t in targets(rule):
                visit(t, [*path, rid])

    for rid in rules:
        visit(rid, [])
    return found


def _cross_file(
    pack_dir: Path, rules: dict[str, Rule], raw: dict[str, dict[str, Any]]
) -> list[Problem]:
    out = []
    for rid, data in raw.items():
        display = str(pack_dir / f"{rid}.toml")
        for key in ("supersedes", "rules"):
            for i, other in enumerate(_ids(data, key)):
                if other not in raw:
                    out.append(Problem(display, f"{key}[{i}]", f"no rule {other!r} in {pack_dir}/"))
    for edges, verb in (("rules", "combine"), ("supersedes", "supersede")):
        for cycle in _cycles(rules, edges):
            display = str(pack_dir / f"{cycle[0]}.toml")
            out.append(
                Problem(display, edges, f"rules {verb} each other in a cycle: {' -> '.join(cycle)}")
            )
    return out


def load_rules(
    directory: Path | str, *, today: date | None = None, strict: bool = False
) -> RulePack:
    """Every rule in ``directory`` (``*.toml``) and every problem, errors and warnings.

    Rules with errors of their own are left out of ``rules``; cross-file problems (an unknown
    superseded or combined rule, a cycle) are reported but leave the rules in.
    """
    pack_dir = Path(directory)
    today = today or date.today()
    if not pack_dir.is_dir():
        return RulePack(pack_dir, {}, (Problem(str(pack_dir), "", "no such directory"),))
    files = sorted(pack_dir.glob("*.toml"))
    if not files:
        return RulePack(pack_dir, {}, (Problem(str(pack_dir), "", "no rule files (*.toml)"),))
    rules: dict[str, Rule] = {}
    raw: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for path in files:
        display = str(pack_dir / path.name)
        rule, own, raw[path.stem] = parse_file(path, display)
        problems += own
        if rule is not None and not own:
            rules[rule.id] = rule
        if rule is not None and rule.next_review < today:
            problems.append(
                Problem(
                    display,
                    "next_review",
                    f"review was due on {rule.next_review} ({(today - rule.next_review).days} "
                    "days ago): check the threshold and its source, then move the date on",
                    "error" if strict else "warning",
                )
            )
    problems += _cross_file(pack_dir, rules, raw)
    problems.sort(key=lambda p: p.file)  # stable: each file's problems together, in order
    return RulePack(pack_dir, rules, tuple(problems))


def check_report(pack: RulePack) -> tuple[str, int]:
    """What ``monitor rules check`` prints, and its exit status (1 on any error)."""
    lines = [str(p) for p in pack.problems]
    lines.append(
        f"{len(pack.rules)} rule(s) in {pack.directory}/: {len(pack.errors)} error(s), "
        f"{len(pack.warnings)} warning(s)"
    )
    return "\n".join(lines), 1 if pack.errors else 0


def load_or_raise(
    directory: Path | str, *, today: date | None = None, strict: bool = False
) -> RulePack:
    """``load_rules``, raising RuleFileError when there is any error."""
    pack = load_rules(directory, today=today, strict=strict)
    if pack.errors:
        raise RuleFileError(pack.errors)
    return pack
