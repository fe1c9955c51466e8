"""Demonstrations, rankings and preferences as plain data, with rollouts and I/O."""

from rewardlab.data.preferences import (
    SKIPPED,
    Preference,
    PreferenceDataset,
    Ranking,
    Segment,
    SegmentBatch,
    import_pairs,
    load_preferences,
    save_preferences,
    to_trl,
)
from rewardlab.data.rollouts import sample_tabular
from rewardlab.data.trajectory import Trajectory, TrajectoryDataset, empirical_visitation, feature_counts, start_distribution
from rewardlab.data.validate import validate_dataset, validate_labels, validate_policy

__all__ = [
    "SKIPPED",
    "Preference",
    "PreferenceDataset",
    "Ranking",
    "Segment",
    "SegmentBatch",
    "Trajectory",
    "TrajectoryDataset",
    "empirical_visitation",
    "feature_counts",
    "import_pairs",
    "load_preferences",
    "sample_tabular",
    "save_preferences",
    "start_distribution",
    "to_trl",
    "validate_dataset",
    "validate_labels",
    "validate_policy",
]
