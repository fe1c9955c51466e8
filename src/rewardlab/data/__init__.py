"""Demonstrations, rankings and preferences as plain data, with rollouts and I/O."""

from rewardlab.data.rollouts import sample_tabular
from rewardlab.data.trajectory import Trajectory, TrajectoryDataset, empirical_visitation, feature_counts, start_distribution
from rewardlab.data.validate import validate_dataset, validate_labels, validate_policy

__all__ = [
    "Trajectory",
    "TrajectoryDataset",
    "empirical_visitation",
    "feature_counts",
    "sample_tabular",
    "start_distribution",
    "validate_dataset",
    "validate_labels",
    "validate_policy",
]
