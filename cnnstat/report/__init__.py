"""How a report is drawn: its tables as text (summary, flops, footer, CSV, Markdown), the data-flow diagram, the one-file HTML report, the plots."""
