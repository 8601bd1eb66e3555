"""The choice of test-time averaging: every candidate way of averaging views is scored on the validation split."""

from __future__ import annotations

from . import evaluation
from .evaluation import TTA_VIEWS, average_log_probs, distinct_views, scored, tta_candidates
from .run import Run


def tta_accuracies(run: Run) -> dict[str, float]:
    """The validation accuracy of every candidate averaging over views, fewest views first (``none`` first).

    Each view of the validation images is evaluated once; every candidate averages those it uses.
    """
    modes = tta_candidates(run.pixels.mirror)
    batch_size = run.config.hyper.eval_batch_size
    per_view = {
        view: evaluation.evaluate(run.model, run.val, run.pixels, run.setup, batch_size, views=(view,)).log_probs
        for view in distinct_views(modes)
    }
    labels = run.val.labels.cpu()
    return {mode: scored(average_log_probs([per_view[view] for view in TTA_VIEWS[mode]]), labels).accuracy for mode in modes}


def choose_tta(run: Run) -> tuple[str, dict[str, float]]:
    """How the test images will be averaged, and each candidate's validation accuracy (none tried where the recipe
    averages nothing)."""
    tried = tta_accuracies(run) if run.config.hyper.tta else {}
    chosen = max(tried, key=tried.__getitem__) if tried else "none"  # the first of the best: candidates come fewest views first
    return chosen, tried
