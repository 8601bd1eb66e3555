"""torchinfo: mult-adds from module hooks, by the layer's parameters."""

from __future__ import annotations

from .ledger import WEIGHTED, Ledger, Peer, Result, Term, bias_adds


def run(model, shape: tuple[int, ...], x) -> Result:
    from torchinfo import summary

    stats = summary(model, input_size=(1, *shape), verbose=0)
    line = next(s for s in str(stats).splitlines() if s.startswith("Total mult-adds"))
    return {"params": int(stats.total_params), "figures": {"mult-adds": int(stats.total_mult_adds)}, "printed": {"mult-adds": line}}


MULT_ADDS = {
    "bias": Term("bias additions: a conv's parameters × output positions, a linear's parameters × batch",
                 lambda row: bias_adds(row) if row.is_module and row.type in WEIGHTED else 0),
    "N·params": Term("batch × parameters of every other leaf module with parameters (batch norm: 2C; LeNet's subsampling: 2C)",
                     lambda row: row.output_shape[0] * row.params if row.is_module and row.params and row.type not in WEIGHTED else 0),
}  # fmt: skip

PEER = Peer("torchinfo", "torchinfo", run, (Ledger("torchinfo", "mult-adds", MULT_ADDS),))
