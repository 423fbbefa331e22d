"""The compiled loops load wherever a compiler is, and their structs are what Python writes."""
import os
import shutil

import pytest

from mbe.native import loader, structs


def test_the_compiled_loops_load_where_a_compiler_is_present():
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler on this machine: the torch path is what runs here")
    status = loader.status()
    assert loader.library() is not None, f"{compiler} is present but the loops did not " \
                                         f"load: {status['error']}"
    assert status["loaded"] and status["path"]


def test_the_ctypes_mirrors_match_the_compiled_structs(native):
    assert structs.layout_mismatches() == []


def test_status_says_what_the_loops_run(native):
    status = loader.status()
    assert set(status) >= {"loaded", "openmp", "avx512", "avx2", "compiler", "error", "path"}
    assert isinstance(status["avx512"], bool) and isinstance(status["openmp"], bool)
