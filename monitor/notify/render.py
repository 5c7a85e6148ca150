"""Email templates: one Jinja2 Environment, StrictUndefined, CSS inlined, overrides first.

Each email is a template set in ``<templates>/emails/``: ``<name>.subject.j2``,
``<name>.txt.j2`` and ``<name>.html.j2``. A deployment's own folder
(``[paths] templates_override``, laid out the same way) is searched first, file by file, so an
operator can reword one part of one email and keep the rest.

Autoescaping is on for ``.html.j2`` only: the subject and the plain-text part must show
"A&E" as written. A variable a template uses but the context lacks raises
``jinja2.UndefinedError`` instead of printing a blank.

A subscriber's email is a body rendered once for everyone receiving the same alerts, plus the
recipient's own part (:func:`personalise`): rendering, CSS inlining and encoding the body per
recipient would cost more than sending it (bench/bench_send.py).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import css_inline
import jinja2
from markupsafe import Markup

from monitor.config import Settings
from monitor.notify.contexts import TEMPLATES, RecipientPart, as_mapping
from monitor.notify.mime import Rendered
from monitor.vocab import SEVERITY_COLOURS

RECIPIENT_MARK = "<!-- recipient -->"
# The severity tags' colours: the status page's NHS.UK tag colours, declared in monitor.vocab.
SEVERITY_CSS = Markup(
    "\n".join(
        f"  .severity-{severity} {{ background: {c.background}; color: {c.text}; "
        f"border: 1px solid {c.border}; }}"
        for severity, c in SEVERITY_COLOURS.items()
    )
)
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)


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
    env.globals["severity_css"] = SEVERITY_CSS
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
    inlined = _inliner().inline(html)
    head, mark, tail = inlined.partition(RECIPIENT_MARK)
    return Rendered(
        subject=" ".join(subject.split()),
        text=text.strip() + "\n",
        html=inlined,
        # Split once here: every recipient's copy shares these two string objects.
        html_pieces=(head, "", tail) if mark and head.endswith("\n") else None,
    )


def personalise(env: jinja2.Environment, body: Rendered, part: RecipientPart) -> Rendered:
    """The body with the recipient's part: after the text, and in the HTML in place of
    ``<!-- recipient -->`` (before ``</body>`` when a template lacks the mark).

    The part carries its own small ``<style>``, inlined into it here: parsing the body's whole
    stylesheet again for every recipient would cost more than the rest of the part."""
    variables = as_mapping(part)
    text = env.get_template("_recipient.txt.j2").render(variables).strip()
    html = env.get_template("_recipient.html.j2").render(variables)
    css = "\n".join(_STYLE.findall(html))
    html = _inliner().inline_fragment(_STYLE.sub("", html).lstrip(), css) if css else html
    text = f"{body.text.rstrip()}\n\n{text}\n"
    if body.html_pieces is not None:
        head, _, tail = body.html_pieces
        own = html if html.endswith("\n") else html + "\n"
        return Rendered(body.subject, text, head + own + tail, (head, own, tail))
    if RECIPIENT_MARK in body.html:
        return Rendered(body.subject, text, body.html.replace(RECIPIENT_MARK, html, 1))
    at = body.html.rfind("</body>")
    full = body.html[:at] + html + body.html[at:] if at >= 0 else body.html + html
    return Rendered(body.subject, text, full)


def template_files(settings: Settings) -> dict[str, Path]:
    """Each template file name -> the file that will be used (override first)."""
    found: dict[str, Path] = {}
    for folder in (settings.paths.templates_override, settings.paths.templates):
        if folder is None or not (folder / "emails").is_dir():
            continue
        for p in sorted((folder / "emails").glob("*.j2")):
            found.setdefault(p.name, p)
    return found
