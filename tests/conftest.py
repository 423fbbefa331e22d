"""Shared test setup: offline hub, a throwaway cache directory, two torch threads, and the
fixtures that skip, naming why, where the compiled loops a test compares cannot run."""
import os

import pytest
import torch

torch.set_num_threads(2)
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    """Point MBE_CACHE_DIR and MBE_MODEL_DIR at per-session temporary directories, keep the
    hub offline, and unset MBE_DATA_DIR: tests use synthetic data (`synthetic_data_dir`),
    never the real sets."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MBE_CACHE_DIR", str(tmp_path_factory.mktemp("mbe-cache")))
        mp.setenv("MBE_MODEL_DIR", str(tmp_path_factory.mktemp("mbe-models")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.delenv("MBE_DATA_DIR", raising=False)
        yield


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory):
    """A data directory of small synthetic sets in the real formats (`tests/synthetic.py`)."""
    from synthetic import write_data_dir

    return write_data_dir(tmp_path_factory.mktemp("data"))


@pytest.fixture
def native():
    """The compiled loops. A test comparing them with the torch path would compare the torch
    path with itself without them: it is skipped, with the reason they did not load."""
    from mbe.native import loader

    lib = loader.library()
    if lib is None:
        pytest.skip(f"the compiled loops did not load ({loader.status()['error']}): this test "
                    "compares them with the torch path, which alone is what runs here")
    return lib
