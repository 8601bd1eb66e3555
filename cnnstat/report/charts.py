"""Small inline SVG charts for the HTML report: labelled horizontal bars and a step line, no library, no script."""

from __future__ import annotations

from html import escape

_BAR = "#d6604d"
_WIDTH = 640


def bar_chart(title: str, unit: str, bars: list[tuple[str, float, str]]) -> str:
    """Horizontal bars: (label, value, the value as written), longest bar for the largest value; a title and unit."""
    row, left, right = 18, 190, 120
    largest = max((value for _, value, _ in bars), default=0) or 1
    height = 40 + row * len(bars) + 24
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}" role="img">',
             f'<title>{escape(title)}</title><text x="0" y="16" class="chart-title">{escape(title)}</text>']  # fmt: skip
    for index, (label, value, written) in enumerate(bars):
        y = 30 + index * row
        length = (_WIDTH - left - right) * value / largest
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(label[:30])}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{row - 5}" fill="{_BAR}"/>'
                     f'<text x="{left + length + 4:.1f}" y="{y + 12}">{escape(written)}</text>')  # fmt: skip
    parts.append(f'<text x="{left}" y="{height - 6}" class="axis">{escape(unit)}</text></svg>')
    return "".join(parts)


def step_chart(title: str, x_label: str, y_label: str, points: list[tuple[str, float]]) -> str:
    """One value per step along the network (a receptive field per layer), as a line with its largest value marked."""
    left, bottom, top, height = 60, 40, 26, 220
    largest = max((value for _, value in points), default=0) or 1
    inner_width, inner_height = _WIDTH - left - 20, height - top - bottom
    step = inner_width / max(len(points) - 1, 1)
    coordinates = " ".join(f"{left + i * step:.1f},{top + inner_height * (1 - value / largest):.1f}"
                           for i, (_, value) in enumerate(points))  # fmt: skip
    dots = "".join(f'<circle cx="{left + i * step:.1f}" cy="{top + inner_height * (1 - value / largest):.1f}" r="2.5">'
                   f"<title>{escape(name)}: {value:g}</title></circle>" for i, (name, value) in enumerate(points))  # fmt: skip
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}" role="img">'
            f'<title>{escape(title)}</title><text x="0" y="16" class="chart-title">{escape(title)}</text>'
            f'<line x1="{left}" y1="{top + inner_height}" x2="{left + inner_width}" y2="{top + inner_height}" stroke="#888"/>'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + inner_height}" stroke="#888"/>'
            f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{largest:g}</text>'
            f'<text x="{left - 6}" y="{top + inner_height}" text-anchor="end">0</text>'
            f'<polyline points="{coordinates}" fill="none" stroke="{_BAR}" stroke-width="1.5"/>{dots}'
            f'<text x="{left + inner_width / 2}" y="{height - 8}" text-anchor="middle" class="axis">{escape(x_label)}</text>'
            f'<text x="12" y="{top + inner_height / 2}" transform="rotate(-90 12 {top + inner_height / 2})" '
            f'text-anchor="middle" class="axis">{escape(y_label)}</text></svg>')  # fmt: skip
