"""Statistical process control the Making Data Count way: XmR charts that conform to
NHSRplotthedots (github.com/nhs-r-community/NHSRplotthedots) at its defaults. Pure: no
database, clock or network. docs/spc.md says what it computes and how to read it.
"""

from monitor.spc.chart import MIN_POINTS, Chart, Point, chart
from monitor.spc.words import TOO_FEW_POINTS, Assurance, PointType, SpecialCause
from monitor.spc.xmr import Limits, limits

__all__ = [
    "MIN_POINTS",
    "TOO_FEW_POINTS",
    "Assurance",
    "Chart",
    "Limits",
    "Point",
    "PointType",
    "SpecialCause",
    "chart",
    "limits",
]
