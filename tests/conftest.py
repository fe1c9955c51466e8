"""Shared test setup: one thread (faster on the shared cores) and bounded hypothesis runs."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)
settings.register_profile("default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")
