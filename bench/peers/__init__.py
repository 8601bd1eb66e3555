"""The tools compare_tools.py sets beside cnnstat: each one's run, and its rule as small tables of terms.

A peer is one way of running a tool (ptflops has two backends). Its ``run`` executes in the throw-away
environment and returns the tool's own figures; each of its ledgers predicts one of those figures from
cnnstat's per-layer rows under the tool's rule. Adding a tool is one module here and one line below.
"""

from __future__ import annotations

from . import fvcore, ptflops, thop, torchinfo, torchscan
from .ledger import Ledger, Peer, Term

#: Every peer, in the order the figures and ledgers are printed.
PEERS: dict[str, Peer] = {peer.name: peer for peer in (*ptflops.PEERS, thop.PEER, torchinfo.PEER, torchscan.PEER, fvcore.PEER)}
#: The one-layer probes that isolate a rule, each tool's in turn.
PROBES = (ptflops.probes, thop.probes, torchscan.probes)
#: What the throw-away environment pip-installs: every peer's package that is not already the project's.
PIP_PACKAGES = tuple(dict.fromkeys(peer.package for peer in PEERS.values() if peer.package))

__all__ = ["PEERS", "PIP_PACKAGES", "PROBES", "Ledger", "Peer", "Term"]
