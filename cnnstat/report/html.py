"""The one-file HTML report: totals, the diagram, the sortable layer table and the charts, with nothing fetched.

Every style, script and picture is inline, so the file opens offline from a mail or a CI artefact. The
cells are written by the column registry's formatters, as the terminal writes them; each cell also
carries its raw value, which the table's sorting reads.
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING, Any

from ..counting.columns import COLUMN
from ..counting.records import format_shape
from ..errors import OutputError
from .charts import bar_chart, step_chart
from .tables import footer_lines  # the terminal's own totals lines, not a second wording of them

if TYPE_CHECKING:
    from ..check.comparison import ModelCheck
    from ..counting.report import LayerCounts, Report
    from ..profile.run import ProfileReport

#: The layer table's columns: the terminal's summary and FLOPs columns, memory and the receptive field.
LAYER_COLUMNS = ("name", "type", "input_shape", "output_shape", "params", "macs", "flops", "share", "activation_bytes",
                 "receptive_field")  # fmt: skip
#: The comparison table's figures, model totals.
COMPARED = ("params", "macs", "flops", "activation_bytes", "training_bytes")

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px}th,td{padding:2px 8px;border-bottom:1px solid #eee}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0;text-align:left;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.diagram{overflow:auto;max-height:80vh;border:1px solid #ddd}.zoom button{margin-right:4px}
.chart text{font:11px system-ui,sans-serif}.chart .chart-title{font-weight:bold;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{max-width:100%;height:auto}
.overview{display:flex;gap:1.5em;align-items:flex-start}.flow{flex:0 0 45%;min-width:0}.cost{flex:1;min-width:0}ul.totals{columns:2}input.filter{margin:.5em 0;width:20em}
"""

_SCRIPT = """
function cellValue(row, index) {
  const cell = row.cells[index];
  const raw = cell.dataset.sort;
  const number = Number(raw);
  return raw !== '' && !Number.isNaN(number) ? number : cell.textContent;
}
document.querySelectorAll('table.sortable').forEach(table => {
  table.querySelectorAll('th').forEach((header, index) => header.addEventListener('click', () => {
    const descending = header.getAttribute('aria-sort') !== 'descending';
    table.querySelectorAll('th').forEach(other => other.removeAttribute('aria-sort'));
    header.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = cellValue(a, index), y = cellValue(b, index);
      const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return descending ? -order : order;
    });
    rows.forEach(row => body.appendChild(row));
  }));
});
document.querySelectorAll('input.filter').forEach(box => box.addEventListener('input', () => {
  const words = box.value.toLowerCase();
  document.getElementById(box.dataset.table).tBodies[0].querySelectorAll('tr').forEach(row => {
    row.hidden = words !== '' && !row.textContent.toLowerCase().includes(words);
  });
}));
document.querySelectorAll('.diagram-box').forEach(box => {
  const svg = box.querySelector('svg');
  if (!svg) return;
  const width = svg.width.baseVal.value, height = svg.height.baseVal.value;
  let zoom = 1;
  box.querySelectorAll('button').forEach(button => button.addEventListener('click', () => {
    const step = button.dataset.zoom;
    zoom = step === 'fit' ? box.querySelector('.diagram').clientWidth / width : zoom * Number(step);
    svg.setAttribute('width', width * zoom);
    svg.setAttribute('height', height * zoom);
  }));
});
"""


def html_report(reports: list[Report], *, depth: int | None = None, figure: str = "macs",
                profiles: list[ProfileReport] | None = None, checks: list[ModelCheck] | None = None) -> str:  # fmt: skip
    """One self-contained page: a model's report, or several models compared and then each one's report; with
    ``profiles`` (one per report), each model's measured per-layer time and its roofline too (the diagram shaded
    by time where ``figure`` is ``time``); with ``checks``, each model's check verdicts."""
    title = " vs ".join(report.model for report in reports)
    body = [f"<h1>cnnstat · {escape(title)}</h1>"]
    if len(reports) > 1:
        body.append(_comparison(reports))
    for index, report in enumerate(reports):
        profile = profiles[index] if profiles is not None else None
        body.append(_model_section(report, index, depth, figure, profile))
        if checks is not None:
            body.append(_check_section(checks[index], index))
        if profile is not None:
            body.append(_profile_section(profile, index))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>cnnstat · {escape(title)}</title>'
            f'<style>{_STYLE}</style></head><body>{"".join(body)}<script>{_SCRIPT}</script></body></html>\n')  # fmt: skip


def _comparison(reports: list[Report]) -> str:
    headers = "".join(f"<th>{escape(COLUMN[name].header)}</th>" for name in COMPARED)
    rows = "".join(
        f"<tr><td>{escape(report.model)}</td><td>{escape(format_shape(report.input_shape))}</td>"
        + "".join(_cell(COLUMN[name].format(report.totals[name]), report.totals[name]) for name in COMPARED) + "</tr>"
        for report in reports
    )  # fmt: skip
    charts = "".join(
        bar_chart(f"{COLUMN[name].header} per model", _unit(name), [(r.model, r.totals[name], COLUMN[name].format(r.totals[name]))
                                                                    for r in reports])
        for name in COMPARED if name != "flops"
    )  # fmt: skip
    return (f'<h2>Compared</h2><table class="sortable" id="compared"><thead><tr><th>Model</th><th>Input</th>{headers}'
            f'</tr></thead><tbody>{rows}</tbody></table><div class="charts">{charts}</div>')  # fmt: skip


def _unit(name: str) -> str:
    return "bytes" if COLUMN[name].unit.value == "bytes" else COLUMN[name].header


def _model_section(report: Report, index: int, depth: int | None, figure: str, profile: ProfileReport | None) -> str:
    from ..counting.views import by_depth, by_type

    totals = "".join(f"<li>{escape(line)}</li>" for line in footer_lines(report))
    stages = by_depth(report, 1).layers
    types = sorted(by_type(report).layers, key=lambda row: -row.macs)
    charts = [
        bar_chart(f"MACs per stage · {report.model}", "MACs", [(r.name, r.macs, COLUMN["macs"].format(r.macs)) for r in stages]),
        bar_chart(f"MACs per layer type · {report.model}", "MACs",
                  [(r.name, r.macs, COLUMN["macs"].format(r.macs)) for r in types]),
        bar_chart(f"Parameters per stage · {report.model}", "parameters",
                  [(r.name, r.params, COLUMN["params"].format(r.params)) for r in stages]),
        bar_chart(f"Activation memory per stage · {report.model}", "bytes saved for backward",
                  [(r.name, r.activation_bytes, COLUMN["activation_bytes"].format(r.activation_bytes)) for r in stages]),
    ]  # fmt: skip
    growth = [(layer.name, float(layer.receptive_field[-1])) for layer in report.layers if layer.receptive_field]
    if growth:
        charts.append(step_chart(f"Receptive field growth · {report.model}", "layers in order", "receptive field (pixels)",
                                 growth))  # fmt: skip
    table_id = f"layers-{index}"
    return (f'<section class="model" id="model-{index}"><h2>{escape(report.model)} · input {escape(format_shape(report.input_shape))}'
            f'</h2><ul class="totals">{totals}</ul><div class="overview"><div class="flow"><h2>Data flow</h2>'
            f'{_diagram(report, depth, figure, profile)}</div><div class="cost"><h2>Cost</h2>{"".join(charts)}</div></div>'
            f'<h2>Layers</h2><input class="filter" type="search" placeholder="filter rows" data-table="{table_id}">'
            f"{_layer_table(report, table_id)}</section>")  # fmt: skip


def _diagram(report: Report, depth: int | None, figure: str, profile: ProfileReport | None) -> str:
    """The Graphviz diagram inlined, with zoom buttons; a note in its place where ``dot`` is missing."""
    from .diagram import diagram, render_bytes

    try:
        svg = render_bytes(diagram(report, depth=depth, figure=figure, profile=profile), "svg").decode()
    except OutputError as error:
        return f"<p>No diagram: {escape(str(error))}</p>"
    svg = svg[svg.index("<svg") :]  # no XML prolog or doctype inside an HTML page
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    buttons = "".join(
        f'<button data-zoom="{step}">{label}</button>' for step, label in (("1.25", "+"), ("0.8", "−"), ("fit", "fit"))
    )
    return f'<div class="diagram-box"><div class="zoom">{buttons}</div><div class="diagram">{svg}</div></div>'


def _layer_table(report: Report, table_id: str) -> str:
    headers = "".join(f'<th data-column="{name}">{escape(COLUMN[name].header)}</th>' for name in LAYER_COLUMNS)
    total_flops = report.totals["flops"] or 1
    rows = "".join(f"<tr>{''.join(_layer_cell(layer, name, total_flops) for name in LAYER_COLUMNS)}</tr>"
                   for layer in report.layers)  # fmt: skip
    return f'<table class="sortable layers" id="{table_id}"><thead><tr>{headers}</tr></thead><tbody>{rows}</tbody></table>'


def _layer_cell(layer: LayerCounts, name: str, total_flops: int) -> str:
    value = layer.flops / total_flops if name == "share" else getattr(layer, name)
    return _cell(COLUMN[name].format(value), value, COLUMN[name].unit.left_aligned)


def _cell(text: str, value: Any, left: bool = False) -> str:
    """A cell as the terminal writes it, with its raw value to sort by (a shape by its size)."""
    if isinstance(value, (tuple, list)):
        size = 1
        for item in value:
            size *= item if isinstance(item, (int, float)) else 1
        value = size
    sort = value if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
    return f'<td{"" if left else " class=num"} data-sort="{sort}">{escape(text)}</td>'


#: The per-layer time table: (header, the row's value in the unit the header names, that value written).
_TIME_COLUMNS = (
    ("Layer", lambda row: row.name, str), ("Type", lambda row: row.type, str),
    ("Time (ms)", lambda row: 1000 * row.time_s, lambda v: f"{v:,.3f}"),
    ("p10–p90 (ms)", lambda row: 1000 * row.p10_s, lambda v: f"{v:,.3f}"),
    ("Floor (ms)", lambda row: 1000 * row.floor_s, lambda v: f"{v:,.4f}"),
    ("Bound", lambda row: row.bound, str), ("Of roof", lambda row: 100 * row.of_roof, lambda v: f"{v:.1f}%"),
    ("Doubts", lambda row: "; ".join(row.doubts), str),
)  # fmt: skip


def _profile_section(profile: ProfileReport, index: int) -> str:
    """The measured per-layer times beside their roofline floors, and the roofline chart."""
    import tempfile
    from pathlib import Path

    from ..profile.plot import plot_roofline

    with tempfile.TemporaryDirectory() as folder:
        chart = Path(folder) / "roofline.svg"
        plot_roofline(profile, chart)
        svg = chart.read_text(encoding="utf-8")
    svg = svg[svg.index("<svg") :]
    headers = "".join(f"<th>{escape(header)}</th>" for header, _, _ in _TIME_COLUMNS)
    rows = "".join(
        "<tr>" + "".join(_cell(write(value(row)), value(row), write is str) for _, value, write in _TIME_COLUMNS) + "</tr>"
        for row in profile.rows
    )  # fmt: skip
    summary = (f"{profile.model} on {profile.device}, {profile.dtype}, input {format_shape(profile.input_shape)}: the "
               f"whole forward {1000 * profile.whole.median:,.3f} ms (median of {profile.repeats}), its layers timed "
               f"one by one {1000 * profile.layers_s:,.3f} ms")  # fmt: skip
    notes = "".join(f"<li>{escape(note)}</li>" for note in profile.notes)
    return (f'<section class="profile" id="profile-{index}"><h2>Time (measured) · {escape(profile.model)}</h2>'
            f"<p>{escape(summary)}</p><ul>{notes}</ul><div class=\"roofline\">{svg}</div>"
            f'<table class="sortable times" id="times-{index}"><thead><tr>{headers}</tr></thead><tbody>{rows}</tbody>'
            "</table></section>")  # fmt: skip


#: The check table's columns, as ``cnnstat check`` heads its own.
_CHECK_HEADERS = ("Layer", "Reference", "Quantity", "cnnstat", "Reference value", "Verdict", "Named rules and the rest")


def _check_section(result: ModelCheck, index: int) -> str:
    """``cnnstat check``'s summary line, and its explained and mismatched comparisons with their named rules."""
    from ..check import EXPLAINED, MISMATCH
    from ..check.comparison import figure_text  # check's own way of writing a figure

    shown = [c for c in result.comparisons if c.verdict in (EXPLAINED, MISMATCH)]
    headers = "".join(f"<th>{escape(header)}</th>" for header in _CHECK_HEADERS)
    rows = "".join(
        "<tr>" + "".join(_cell(text, value, left) for text, value, left in (
            (c.layer, c.layer, True), (c.reference, c.reference, True), (c.quantity, c.quantity, True),
            (figure_text(c.ours), c.ours, False), (figure_text(c.theirs), c.theirs, False), (c.verdict, c.verdict, True),
            (c.explanation, c.explanation, True))) + "</tr>"
        for c in shown
    )  # fmt: skip
    return (f'<section class="check" id="check-{index}"><h2>Checked · {escape(result.model)}</h2>'
            f'<p class="check-summary">{escape(result.summary())}</p>'
            f'<table class="sortable checks" id="checks-{index}"><thead><tr>{headers}</tr></thead><tbody>{rows}</tbody>'
            "</table></section>")  # fmt: skip
