"""Shared test setup: offline hub, a throwaway cache directory, two torch threads."""
import os

import pytest
import torch

torch.set_num_threads(2)
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    """Point MBE_CACHE_DIR at a per-session temporary directory and keep the hub offline."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MBE_CACHE_DIR", str(tmp_path_factory.mktemp("mbe-cache")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield
