"""Names of the benchmark suite (light module: imported by the workflow when it builds the DAG)."""

from __future__ import annotations

TASKS: tuple[str, ...] = ("label", "noise", "unsupervised")
METHODS: tuple[str, ...] = (
    "dvgs",
    "random",
    "loo",
    "tmc_shapley",
    "dvrl",
    "knn_shapley",
    "data_oob",
)
# methods that need no labels (the unsupervised CIFAR10 task)
UNSUPERVISED_METHODS: tuple[str, ...] = ("dvgs", "random")
