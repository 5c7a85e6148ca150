"""Chat messages (Teams, Slack, signed webhooks) from Jinja2 templates that write JSON.

Each channel has one template, ``<templates>/chat/<channel>.json.j2`` (an override folder's
``chat/`` first, as for emails). The context is :class:`ChatMessage`: the same AlertViews the
emails show, so a Teams card, a Slack message and an email say the same words.

Escaping is done by the environment, not by template authors: every ``{{ expression }}``
is written as a JSON value (``json.dumps``: a string comes with its quotes, a number without),
so a trust name or a rule title can never break out of its string. Templates therefore write
``"text": {{ alert.rule_title }}``, not ``"text": "{{ alert.rule_title }}"``. Slack's mrkdwn
also gives ``&``, ``<`` and ``>`` meanings, so Slack's template passes text through the
``mrkdwn`` filter first. The result is parsed as JSON before it is sent: a template that
writes anything else fails that message with the template's name, it is never posted.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from monitor.config import Settings
from monitor.notify import channels
from monitor.notify.contexts import AlertEmail, AlertGroupEmail, as_mapping
from monitor.notify.render import TemplateError, folder_environment
from monitor.notify.views import AlertView, doc


@dataclass(frozen=True, kw_only=True)
class ChatMessage:
    """What a chat template sees: one alert event, or a publication's events for a channel."""

    title: str = doc("the same words as the email's subject")
    place: str = doc('where: a region, an ICB, a trust, or "England"')
    fired: list[AlertView] = doc("new alerts, worst severity first (see AlertView)")
    resolved: list[AlertView] = doc("alerts resolved or withdrawn")
    publication_title: str = doc("the published file's title")
    publication_url: str = doc("where it was published")
    published_text: str = doc('when it was published, e.g. "14 August 2025"')
    status_url: str = doc("the status page's front page")
    key: str = doc("the message's outbox key: the same for every attempt to send it")


def _json_value(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises here, naming the variable
    return json.dumps(value, ensure_ascii=False, default=str)


def _mrkdwn(text: Any) -> str:
    """Text for Slack's mrkdwn, where &, < and > are control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@functools.cache
def environment(templates: Path, override: Path | None = None) -> jinja2.Environment:
    """The one Environment for chat templates (and their override), built on first use."""
    env = folder_environment("chat", templates, override, autoescape=False, finalize=_json_value)
    env.filters["mrkdwn"] = _mrkdwn
    # Teams' Adaptive Card colour words for each severity (its palette has no custom colours).
    env.globals["teams_colour"] = {
        "critical": "attention",
        "high": "attention",
        "medium": "warning",
        "low": "accent",
        "info": "default",
    }
    return env


def env_for(settings: Settings) -> jinja2.Environment:
    return environment(settings.paths.templates, settings.paths.templates_override)


def message(name: str, context: Any, subject: str, *, key: str) -> ChatMessage:
    """The chat context of an email's context (``alert_fired``, ``alert_resolved`` or
    ``alert_group``) and its rendered subject."""
    if isinstance(context, AlertEmail):
        view = context.alert
        fired = [view] if name == "alert_fired" else []
        return ChatMessage(
            title=subject,
            place=view.org_name,
            fired=fired,
            resolved=[] if fired else [view],
            publication_title=view.publication_title,
            publication_url=view.publication_url,
            published_text=view.published_text,
            status_url=context.status_url,
            key=key,
        )
    if isinstance(context, AlertGroupEmail):
        return ChatMessage(
            title=subject,
            place=context.place,
            fired=context.fired,
            resolved=context.resolved,
            publication_title=context.publication_title,
            publication_url=context.publication_url,
            published_text=context.published_text,
            status_url=context.status_url,
            key=key,
        )
    raise TemplateError(f"{name} is sent by email only, not to a chat channel")


def render(env: jinja2.Environment, channel: str, msg: ChatMessage) -> bytes:
    """The JSON body to post to ``channel`` (UTF-8), or TemplateError / jinja2 errors."""
    if channel not in channels.CHAT:
        raise TemplateError(f"no chat template for channel {channel!r}")
    name = f"{channel}.json.j2"
    try:
        text = env.get_template(name).render(as_mapping(msg))
    except jinja2.TemplateNotFound as e:
        raise TemplateError(f"chat template {e.name} not found") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TemplateError(f"chat/{name} did not write JSON: {e}") from None
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def template_files(settings: Settings) -> dict[str, Path]:
    """Each chat template's name -> the file that will be used (override first)."""
    found: dict[str, Path] = {}
    for folder in (settings.paths.templates_override, settings.paths.templates):
        if folder is not None and (folder / "chat").is_dir():
            for p in sorted((folder / "chat").glob("*.json.j2")):
                found.setdefault(p.name, p)
    return found
