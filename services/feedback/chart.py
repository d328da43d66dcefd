"""A client's progress on one measure as a server-rendered SVG: scores per questionnaire against the expected
course and its failure boundary, the clinical cutoff, the reliable-change band around the baseline, and
alerts marked. Readable in greyscale and in print (line styles, not only colours, tell the series apart).
Pure: returns a string."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 28, 40


@dataclass
class Point:
    n: int  # the n-th questionnaire of the episode
    total: float
    label: str
    alert: str | None = None  # the rule of an alert raised at this point


def _scale(lo: float, hi: float, size: int, start: int, invert: bool = False):
    span = (hi - lo) or 1

    def f(v: float) -> float:
        r = (v - lo) / span
        return round(start + (1 - r if invert else r) * size, 1)

    return f


def progress_svg(
    title: str,
    points: list[Point],
    value_range: tuple[float, float],
    *,
    higher_is_worse: bool,
    expected: list[tuple[int, float, float]] | None = None,
    cutoff: float | None = None,
    rc_points: float | None = None,
    for_client: bool = False,
) -> str:
    """``expected``: (n, expected score, failure boundary) per questionnaire number. ``for_client``: the
    client's own copy, in plain words and without the failure boundary (a clinician's tool, not a verdict)."""
    lo, hi = value_range
    last_n = max([p.n for p in points] + [n for n, _, _ in expected or []] + [2])
    x = _scale(1, last_n, W - LEFT - RIGHT, LEFT)
    y = _scale(lo, hi, H - TOP - BOTTOM, TOP, invert=True)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="chart-title chart-desc" class="progress-chart" font-family="system-ui, sans-serif" '
        f'font-size="11">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(describe(title, points, higher_is_worse))}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="#fff" '
        f'stroke="#999"/>',
    ]
    if rc_points is not None and points:
        base = points[0].total
        top, bottom = min(hi, base + rc_points), max(lo, base - rc_points)
        out.append(
            f'<rect x="{LEFT}" y="{y(top)}" width="{W - LEFT - RIGHT}" height="{y(bottom) - y(top)}" '
            f'fill="#e8eef6" class="rc-band"><title>No reliable change from the baseline '
            f"(±{rc_points:g})</title></rect>"
        )
    for tick in _ticks(lo, hi):
        out.append(
            f'<line x1="{LEFT - 4}" x2="{LEFT}" y1="{y(tick)}" y2="{y(tick)}" stroke="#666"/>'
            f'<text x="{LEFT - 7}" y="{y(tick) + 4}" text-anchor="end">{tick:g}</text>'
        )
    for n in range(1, last_n + 1):
        out.append(f'<text x="{x(n)}" y="{H - BOTTOM + 16}" text-anchor="middle">{n}</text>')
    out.append(
        f'<text x="{LEFT + (W - LEFT - RIGHT) / 2}" y="{H - 6}" text-anchor="middle">questionnaire '
        f"(1 = baseline)</text>"
    )
    if cutoff is not None:
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(cutoff)}" y2="{y(cutoff)}" stroke="#8a4b00" '
            f'stroke-dasharray="2 3" class="cutoff"/><text x="{W - RIGHT - 4}" y="{y(cutoff) - 4}" '
            f'text-anchor="end" fill="#8a4b00">{"treatment level" if for_client else "clinical cutoff"} '
            f"{cutoff:g}</text>"
        )
    if expected:
        exp_path = " ".join(f"{x(n)},{y(e)}" for n, e, _ in expected)
        bound_path = " ".join(f"{x(n)},{y(b)}" for n, _, b in expected)
        out.append(
            f'<polyline points="{exp_path}" fill="none" stroke="#2b8a3e" stroke-width="1.5" '
            f'stroke-dasharray="6 4" class="expected"/>'
        )
        if not for_client:
            out.append(
                f'<polyline points="{bound_path}" fill="none" stroke="#a4161a" stroke-width="1.5" '
                f'stroke-dasharray="1 3" class="boundary"/>'
            )
    if points:
        path = " ".join(f"{x(p.n)},{y(p.total)}" for p in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#0b4f8a" stroke-width="2.5" class="scores"/>')
        for p in points:
            shape = (
                f'<rect x="{x(p.n) - 6}" y="{y(p.total) - 6}" width="12" height="12" fill="#a4161a" '
                f'class="alert-marker"/>'
                if p.alert
                else f'<circle cx="{x(p.n)}" cy="{y(p.total)}" r="4.5" fill="#0b4f8a"/>'
            )
            out.append(
                f'<g class="point">{shape}<title>{escape(p.label)}: {p.total:g}'
                f"{' — alert: ' + escape(p.alert.replace('_', ' ')) if p.alert else ''}</title></g>"
            )
            out.append(
                f'<text x="{x(p.n)}" y="{y(p.total) - 9}" text-anchor="middle" font-weight="600">{p.total:g}</text>'
            )
    legend = [("#0b4f8a", "", "scores"), ("#2b8a3e", "6 4", "expected"), ("#a4161a", "1 3", "failure boundary")]
    if for_client:
        legend = [("#0b4f8a", "", "your scores")] + ([("#2b8a3e", "6 4", "the usual course")] if expected else [])
    for i, (colour, dash, name) in enumerate(legend):
        lx = LEFT + i * 150
        out.append(
            f'<line x1="{lx}" x2="{lx + 22}" y1="14" y2="14" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{dash}"/><text x="{lx + 27}" y="18">{name}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _ticks(lo: float, hi: float) -> list[float]:
    step = next(s for s in (1, 2, 5, 10, 20, 50) if (hi - lo) / s <= 8)
    return [v for v in range(int(lo), int(hi) + 1) if v % step == 0]


def describe(title: str, points: list[Point], higher_is_worse: bool) -> str:
    """A text alternative for screen readers and for anyone who prefers numbers."""
    if not points:
        return f"{title}: no scores yet."
    scores = ", ".join(f"{p.label} {p.total:g}" for p in points)
    direction = "higher is worse" if higher_is_worse else "higher is better"
    return f"{title} ({direction}): {scores}."
