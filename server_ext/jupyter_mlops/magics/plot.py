"""Parallel-coordinates plot of a sweep's trials as a standalone SVG string (a pure function).

Draws the plot data the jobs API computes (``jobs.trial_plot.plot_data``, also
what the sidebar draws): one vertical axis per search parameter plus one for
the objective metric; one polyline per trial through its values, coloured by
its metric, the best trial drawn last and thicker. No plotting library: the
notebook renders the SVG inline and the tests read it back as XML.
"""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 640, 280
MARGIN_X, TOP, BOTTOM = 60, 40, 40
LOW_COLOUR, HIGH_COLOUR = (203, 213, 225), (37, 99, 235)
"""A poor metric is pale grey, a good one deep blue (whichever way the objective points)."""


def parallel_coordinates_svg(plot: dict, *, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The plot as an ``<svg>`` element; every name and value is escaped.

    A trial without its metric yet is drawn dashed up to its last parameter.
    """
    axes = plot["axes"]
    plot_height = height - TOP - BOTTOM
    step = (width - 2 * MARGIN_X) / max(1, len(axes) - 1)
    xs = [MARGIN_X + i * step if len(axes) > 1 else width / 2 for i in range(len(axes))]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="mlops-parcoords" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="11">'
    ]
    for x, axis in zip(xs, axes, strict=True):
        bottom_label, top_label = axis["labels"]
        parts.append(
            f'<g class="axis" data-axis="{escape(axis["name"])}">'
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_height}" stroke="#444"/>'
            f'<text x="{x:.1f}" y="{TOP - 22}" text-anchor="middle" font-weight="bold">'
            f"{escape(axis['name'])}{' (log)' if axis['scale'] == 'log' else ''}</text>"
            f'<text x="{x:.1f}" y="{TOP - 8}" text-anchor="middle" fill="#666">'
            f"{escape(top_label)}</text>"
            f'<text x="{x:.1f}" y="{TOP + plot_height + 16}" text-anchor="middle" fill="#666">'
            f"{escape(bottom_label)}</text></g>"
        )
    for line in plot["lines"]:
        points = " ".join(
            f"{x:.1f},{TOP + (1 - where) * plot_height:.1f}" for x, where in zip(xs, line["points"], strict=False)
        )
        is_best = line["trial"] == plot["best"] and line["complete"]
        colour = "#dc2626" if is_best else _colour(line["score"])
        dash = "" if line["complete"] else ' stroke-dasharray="4 3"'
        described = ", ".join(f"{a['name']}={v}" for a, v in zip(axes, line["values"], strict=True) if v is not None)
        parts.append(
            f'<polyline class="trial{" best" if is_best else ""}" '
            f'data-trial="{escape(line["trial"])}" points="{points}" '
            f'fill="none" stroke="{colour}" stroke-width="{3 if is_best else 1.5}" '
            f'stroke-opacity="0.85"{dash}>'
            f"<title>{escape(line['trial'])}: {escape(described)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _colour(score: float | None) -> str:
    if score is None:
        return "#9ca3af"
    r, g, b = (round(low + (high - low) * score) for low, high in zip(LOW_COLOUR, HIGH_COLOUR, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
