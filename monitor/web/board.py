"""A trust's monthly board pack on the status page: ``/orgs/<code>/board-pack`` (HTML for
screen and A4 print) and ``/orgs/<code>/board-pack.pdf``, each taking ``?month=YYYY-MM``
(default: the latest month whose pack is due)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request

from monitor.board import month as months
from monitor.board import render
from monitor.models import utcnow

bp = Blueprint("board", __name__)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def _pack_html(code: str) -> str:
    ctx = current_app.extensions["monitor"].ctx
    text = request.args.get("month")
    try:
        month = months.Month.parse(text) if text else months.due(utcnow())
    except months.BadMonth as e:
        abort(400, str(e))
    found = render.assemble(ctx.engine, ctx.settings, code.strip().upper(), month)
    if found is None:
        abort(404, f"There is no organisation with the code {code.strip().upper()[:16]}.")
    return render.html(ctx.settings, found)


def _csp(document: str) -> str:
    """The page's own policy: its one inline stylesheet by hash, nothing else inline."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _STYLE.findall(document)
    ]
    return "; ".join(
        [
            "default-src 'self'",
            "style-src 'self' " + " ".join(hashes),
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@bp.get("/orgs/<code>/board-pack")
def board_pack(code: str) -> Any:
    document = _pack_html(code)
    resp = Response(document, content_type="text/html; charset=utf-8")
    resp.headers["Content-Security-Policy"] = _csp(document)
    return resp


@bp.get("/orgs/<code>/board-pack.pdf")
def board_pack_pdf(code: str) -> Any:
    why = render.pdf_unavailable()
    if why is not None:
        html_url = request.path.removesuffix(".pdf")
        if request.query_string:
            html_url += "?" + request.query_string.decode("ascii", "replace")
        page = render_template("board_pack_no_pdf.jinja", why=why, html_url=html_url)
        return page, 503
    document = _pack_html(code)
    return Response(
        render.pdf(document, current_app.extensions["monitor"].ctx.settings.web.base_url),
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="board-pack-{code.strip().upper()}'
            f'-{request.args.get("month") or "latest"}.pdf"'
        },
    )
