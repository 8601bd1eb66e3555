"""fvcore: its FlopCountAnalysis, and its rule as cnnstat's fvcore convention states it (counting/specs.py's handles)."""

from __future__ import annotations

from collections import defaultdict

from .ledger import Ledger, Peer, Result, Row


def run(model, shape: tuple[int, ...], x) -> Result:
    from fvcore.nn import FlopCountAnalysis, flop_count_str, parameter_count

    analysis = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    first = next(line.strip() for line in flop_count_str(analysis).splitlines() if "#flops" in line)
    uncalled = analysis.uncalled_modules()
    return {
        "params": int(parameter_count(model)[""]),
        "figures": {"FLOPs": int(analysis.total())},
        "printed": {"FLOPs": first},
        "notes": [f"skipped {op} ×{n}" for op, n in sorted(analysis.unsupported_ops().items())]
        + ([f"{len(uncalled)} modules never called"] if uncalled else []),
    }


def beyond_macs(rows: list[Row]) -> list[tuple[str, int]]:
    """Per torch call, what the fvcore convention counts beyond its MACs: fvcore's handles, not restated here."""
    from cnnstat.counting.conventions import FVCORE

    terms: dict[str, int] = defaultdict(int)
    for row in rows:
        for op in row.ops:
            terms[op.record.call or op.record.op] += FVCORE.op_flops(op.record, op.measures) - op.measures.macs
    return [(call, count) for call, count in terms.items() if count]


FLOPS = Ledger(
    "fvcore",
    "FLOPs",
    legend="each call's count under cnnstat's fvcore convention (`-c fvcore`: fvcore's handles) beyond its MACs; "
    "negative where fvcore skips products, as inside attention",
    by_rows=beyond_macs,
)
PEER = Peer("fvcore", None, run, (FLOPS,))
