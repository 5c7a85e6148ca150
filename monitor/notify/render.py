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
from dataclasses import dataclass
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


def folder_environment(
    kind: str, templates: Path, override: Path | None, **options: Any
) -> jinja2.Environment:
    """An Environment over the ``kind`` folder (``emails``, ``chat``) of the deployment's
    override, then of the templates: strict about undefined names, blocks trimmed, templates
    read once. ``options`` add the kind's own (autoescape, finalize...)."""
    folders = [p / kind for p in (override, templates) if p is not None]
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(f)) for f in folders]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        **options,
    )


@functools.cache
def environment(templates: Path, override: Path | None = None) -> jinja2.Environment:
    """The one Environment for a template folder (and override), built on first use."""
    env = folder_environment(
        "emails", templates, override, autoescape=_autoescape, keep_trailing_newline=True
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


def precompile(settings: Settings) -> list[str]:
    """Compile every email template of the deployment now, as the service starts, so that the
    first email after a publication does not wait for it; returns a line per template that
    does not compile (its name, line and the error), which the caller reports."""
    env = env_for(settings)
    problems = []
    for name in env.list_templates(filter_func=lambda n: n.endswith(".j2")):
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as e:
            problems.append(f"{name}, line {e.lineno}: {e.message}")
    return problems


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


def _render_part(env: jinja2.Environment, part: RecipientPart) -> tuple[str, str]:
    """(text, html) of the recipient's part, rendered and CSS-inlined."""
    variables = as_mapping(part)
    text = env.get_template("_recipient.txt.j2").render(variables).strip()
    html = env.get_template("_recipient.html.j2").render(variables)
    css = "\n".join(_STYLE.findall(html))
    html = _inliner().inline_fragment(_STYLE.sub("", html).lstrip(), css) if css else html
    return text, html


_SLOT = re.compile(r"(qz\d+slotqz)")
# Characters that escaping changes differently in text and in attributes, or that the HTML
# parser rewrites; a value holding none of them becomes itself with "&" as "&amp;" in the HTML.
_UNSAFE = re.compile(r'["<>\xa0\x00-\x1f\x7f-\x9f]')
Pieces = list[str]  # literal, slot number, literal, slot number, ... literal


@dataclass(frozen=True)
class _PartShape:
    """The recipient's part rendered once with a placeholder for each value, so that each
    recipient's copy is the values put in place (rendering and inlining it per recipient cost
    more than the rest of the message)."""

    text: Pieces
    html: Pieces

    @staticmethod
    def values(part: RecipientPart) -> list[str] | None:
        """The part's values in slot order, or None when one needs the full rendering."""
        values = [
            part.recipient,
            part.unsubscribe_url,
            part.status_url,
            part.manage_url,
            *part.subscribed_to,
        ]
        return None if any(_UNSAFE.search(v) or v != v.strip() for v in values) else values

    @staticmethod
    def fill(pieces: Pieces, values: list[str]) -> str:
        out = pieces[:]
        for i in range(1, len(out), 2):
            out[i] = values[int(out[i])]
        return "".join(out)

    def render(self, values: list[str]) -> tuple[str, str]:
        html_values = [v.replace("&", "&amp;") for v in values]
        return self.fill(self.text, values), self.fill(self.html, html_values)


_shapes: dict[tuple[int, int], _PartShape | None] = {}


def _part_shape(env: jinja2.Environment, n_subscriptions: int) -> _PartShape | None:
    slots = [f"qz{i}slotqz" for i in range(4 + n_subscriptions)]
    placeholder = RecipientPart(
        recipient=slots[0],
        unsubscribe_url=slots[1],
        status_url=slots[2],
        manage_url=slots[3],
        subscribed_to=slots[4:],
    )
    text, html = _render_part(env, placeholder)
    pieces = [_SLOT.split(text), _SLOT.split(html)]
    for p in pieces:
        p[1::2] = [s[2:].removesuffix("slotqz") for s in p[1::2]]
    return _PartShape(pieces[0], pieces[1])


def _part(env: jinja2.Environment, part: RecipientPart) -> tuple[str, str]:
    """The recipient's part as :func:`_render_part` gives it, from the part's shape when it
    can be: the first recipient of each shape is rendered both ways, and a shape whose copy
    differs (a template that changes a value) is rendered in full from then on."""
    values = _PartShape.values(part)
    if values is None:
        return _render_part(env, part)
    key = (id(env), len(part.subscribed_to))
    if key in _shapes:
        shape = _shapes[key]
        return shape.render(values) if shape is not None else _render_part(env, part)
    full = _render_part(env, part)
    shape = _part_shape(env, len(part.subscribed_to))
    _shapes[key] = shape if shape is not None and shape.render(values) == full else None
    return full


def personalise(env: jinja2.Environment, body: Rendered, part: RecipientPart) -> Rendered:
    """The body with the recipient's part: after the text, and in the HTML in place of
    ``<!-- recipient -->`` (before ``</body>`` when a template lacks the mark).

    The part carries its own small ``<style>``, inlined into it once per shape (see
    :class:`_PartShape`): parsing the body's whole stylesheet again for every recipient would
    cost more than the rest of the part."""
    text, html = _part(env, part)
    shared = _text_head(body.text)
    own_text = f"{text}\n"
    pieces = (shared, own_text)
    text = shared + own_text
    if body.html_pieces is not None:
        head, _, tail = body.html_pieces
        own = html if html.endswith("\n") else html + "\n"
        return Rendered(body.subject, text, head + own + tail, (head, own, tail), pieces)
    if RECIPIENT_MARK in body.html:
        html = body.html.replace(RECIPIENT_MARK, html, 1)
        return Rendered(body.subject, text, html, text_pieces=pieces)
    at = body.html.rfind("</body>")
    full = body.html[:at] + html + body.html[at:] if at >= 0 else body.html + html
    return Rendered(body.subject, text, full, text_pieces=pieces)


@functools.lru_cache(maxsize=256)
def _text_head(text: str) -> str:
    """A body's text before the recipient's part: one string object for every recipient of
    the same body, so that its encoding is looked up rather than done again (mime.py)."""
    return f"{text.rstrip()}\n\n"


def template_files(settings: Settings) -> dict[str, Path]:
    """Each template file name -> the file that will be used (override first)."""
    found: dict[str, Path] = {}
    for folder in (settings.paths.templates_override, settings.paths.templates):
        if folder is None or not (folder / "emails").is_dir():
            continue
        for p in sorted((folder / "emails").glob("*.j2")):
            found.setdefault(p.name, p)
    return found
