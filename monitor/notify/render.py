"""Email templates: one Jinja2 Environment, StrictUndefined, CSS inlined, overrides first.

Each email is a template set in ``<templates>/emails/``: ``<name>.subject.j2``,
``<name>.txt.j2`` and ``<name>.html.j2``. A deployment's own folder
(``[paths] templates_override``, laid out the same way) is searched first, file by file, so an
operator can reword one part of one email and keep the rest.

Autoescaping is on for ``.html.j2`` only: the subject and the plain-text part must show
"A&E" as written. A variable a template uses but the context lacks raises
``jinja2.UndefinedError`` instead of printing a blank.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import css_inline
import jinja2

from monitor.config import Settings
from monitor.notify.contexts import TEMPLATES, as_mapping
from monitor.notify.mime import Rendered

PARTS = ("subject", "txt", "html")


class TemplateError(Exception):
    """A template set that cannot be rendered; the message names the template."""


def _autoescape(name: str | None) -> bool:
    return bool(name and name.endswith(".html.j2"))


def _pluralise(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


@functools.cache
def environment(templates: Path, override: Path | None = None) -> jinja2.Environment:
    """The one Environment for a template folder (and override), built on first use."""
    folders = [p / "emails" for p in (override, templates) if p is not None]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(f)) for f in folders]),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["plural"] = _pluralise
    return env


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    # Built once: it is reused for every message. Remote stylesheets are never fetched, and
    # @media rules stay in a <style> block for the clients that honour them.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def env_for(settings: Settings) -> jinja2.Environment:
    """The Environment for a deployment's settings."""
    return environment(settings.paths.templates, settings.paths.templates_override)


def render(env: jinja2.Environment, name: str, context: Any) -> Rendered:
    """(subject, text, html) of template set ``name`` for ``context`` (see contexts.py)."""
    expected = TEMPLATES.get(name)
    if expected is None:
        raise TemplateError(f"no email template set {name!r}; known: {', '.join(TEMPLATES)}")
    if not isinstance(context, expected):
        raise TemplateError(f"{name} takes a {expected.__name__}, not {type(context).__name__}")
    variables = as_mapping(context)
    try:
        subject = env.get_template(f"{name}.subject.j2").render(variables)
        text = env.get_template(f"{name}.txt.j2").render(variables)
        html = env.get_template(f"{name}.html.j2").render(variables)
    except jinja2.TemplateNotFound as e:
        raise TemplateError(f"template {e.name} not found in {env.loader!r}") from None
    return Rendered(
        subject=" ".join(subject.split()),
        text=text.strip() + "\n",
        html=_inliner().inline(html),
    )


def template_files(settings: Settings) -> dict[str, Path]:
    """Each template file name -> the file that will be used (override first)."""
    found: dict[str, Path] = {}
    for folder in (settings.paths.templates_override, settings.paths.templates):
        if folder is None or not (folder / "emails").is_dir():
            continue
        for p in sorted((folder / "emails").glob("*.j2")):
            found.setdefault(p.name, p)
    return found
