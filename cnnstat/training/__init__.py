"""``cnnstat train`` and ``predict``: Fashion-MNIST held in memory, recipes, resumable checkpoints, DDP."""
