"""The counting core: trace a module on meta tensors, measure every op, apply a FLOP convention, report.

Imports only torch (and cnnstat's errors). Modules: ``records`` (what a trace holds), ``trace``,
``ops`` and ``layers`` (counters), ``measures``, ``conventions``, ``receptive_field``, ``memory``,
``inputs``, ``report`` and ``analyze``. Nothing is imported here, so that the command line can read
the convention names without loading torch.
"""
