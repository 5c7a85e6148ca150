"""The Making Data Count icons and colours, drawn as small server-side SVGs.

Colours are NHSRplotthedots' defaults (``ptd_spc_colours()``): common cause grey, improvement
blue, concern orange, neutral purple, target red. Icons follow Making Data Count's conventions:
a variation icon rings the dots in the colour of the latest point's type, with H or L for a
special cause that is high or low; an assurance icon is a blue P (the target is met
consistently), an orange F (missed consistently) or grey when it is hit and miss. Each icon is
one image to assistive technology, named by its words (monitor/spc/reading.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from monitor.spc import Assurance, PointType


@dataclass(frozen=True)
class Colour:
    """A Making Data Count colour, and a darker shade of it that outlines points and icons so
    that they stand out from white by at least 3:1 (WCAG 1.4.11)."""

    fill: str
    edge: str


GREY = Colour("#a6a6a6", "#595959")
BLUE = Colour("#00b0f0", "#005a7d")
ORANGE = Colour("#e46c0a", "#8a4100")
PURPLE = Colour("#490092", "#490092")
TARGET = "#de1b1b"
MEAN = "#000000"
LIMIT = "#7a7a7a"  # the process limits: the package's grey, darkened to be seen on white

POINT_COLOURS: dict[PointType, Colour] = {
    PointType.COMMON_CAUSE: GREY,
    PointType.IMPROVEMENT: BLUE,
    PointType.CONCERN: ORANGE,
    PointType.NEUTRAL_HIGH: PURPLE,
    PointType.NEUTRAL_LOW: PURPLE,
}
ASSURANCE_ICONS: dict[Assurance, tuple[Colour, str]] = {
    Assurance.PASS: (BLUE, "P"),
    Assurance.FAIL: (ORANGE, "F"),
    Assurance.INCONSISTENT: (GREY, ""),
}
SIZE = 44


def _frame(kind: str, words: str, colour: Colour, body: str) -> Markup:
    return Markup(
        f'<svg class="monitor-icon monitor-icon--{kind}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="{escape(words)}" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" '
        f'height="{SIZE}"><title>{escape(words)}</title>'
        f'<circle cx="22" cy="22" r="19" fill="#ffffff" stroke="{colour.edge}" stroke-width="3"/>'
        f"{body}</svg>"
    )


def _letter(text: str, colour: Colour, y: int = 19) -> str:
    return (
        f'<text x="22" y="{y}" text-anchor="middle" font-size="15" font-weight="bold" '
        f'font-family="Arial, sans-serif" fill="{colour.edge}">{text}</text>'
    )


def variation_icon(point_type: PointType, high: bool, words: str) -> Markup:
    """The variation icon: grey dots for common cause; otherwise dots rising (H) or falling
    (L) to two points in the type's colour, with the letter."""
    colour = POINT_COLOURS[point_type]
    if point_type is PointType.COMMON_CAUSE:
        dots = [(10, 24), (16, 20), (22, 25), (28, 20), (34, 24)]
        body = _dots(dots, [GREY] * 5)
    else:
        ys = [33, 31, 32, 27, 24] if high else [24, 26, 25, 30, 33]
        dots = list(zip((10, 16, 22, 28, 34), ys, strict=True))
        body = _letter("H" if high else "L", colour) + _dots(dots, [GREY] * 3 + [colour] * 2)
    return _frame("variation", words, colour, body)


def assurance_icon(assurance: Assurance, words: str) -> Markup:
    """The assurance icon: P or F in a ring, or a line crossing the target for hit and miss."""
    colour, letter = ASSURANCE_ICONS[assurance]
    if letter:
        body = _letter(letter, colour, y=28)
    else:
        body = (
            f'<line x1="8" x2="36" y1="22" y2="22" stroke="{TARGET}" stroke-width="2" '
            'stroke-dasharray="3 2"/>'
            f'<path d="M8 26 C13 12, 18 12, 22 22 S31 32, 36 18" fill="none" '
            f'stroke="{colour.edge}" stroke-width="2"/>'
        )
    return _frame("assurance", words, colour, body)


def _dots(points: list[tuple[int, int]], colours: list[Colour]) -> str:
    line = " ".join(f"{x},{y}" for x, y in points)
    out = [f'<polyline points="{line}" fill="none" stroke="{GREY.fill}" stroke-width="1.5"/>']
    for (x, y), c in zip(points, colours, strict=True):
        out.append(f'<circle cx="{x}" cy="{y}" r="2.6" fill="{c.fill}" stroke="{c.edge}"/>')
    return "".join(out)
