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


# A product and a matmul by spike multiplication in both modes (identity encoders only: nothing
# to fit), printed as the status of the build that ran them and a digest of the outputs.
_PROBE = """
import hashlib, json, sys, warnings
import torch
from mbe.native import loader
from mbe.ops import Multiply
warnings.simplefilter("always")
op = Multiply((-3.0, 5.0), (-1.0, 2.0), timesteps=8)
g = torch.Generator().manual_seed(0)
a, b = torch.randn(64, 33, generator=g) * 3, torch.randn(33, 20, generator=g)
outs = []
for mode in ("mbe", "spike"):
    op.mode, op.record = mode, True
    outs += [op(a, a), op.matmul(a, b)]
digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in outs)).hexdigest()
status = loader.status()
print(json.dumps({"loaded": status["loaded"], "openmp": status["openmp"], "digest": digest,
                  "report": op.report()}))
"""


def _probe(tmp_path, **env) -> tuple[dict, str]:
    """Run _PROBE in a fresh process with env; (its result, its stderr)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_builds_without_openmp_and_without_a_compiler_give_the_same_numbers(tmp_path, native):
    """MBE_OPENMP=0 builds the loops as a compiler without OpenMP (Apple clang) would; a
    machine without a compiler runs the torch path. Both give the default build's numbers."""
    full, _ = _probe(tmp_path)
    plain, _ = _probe(tmp_path, MBE_OPENMP="0")
    bare, warned = _probe(tmp_path, CC=str(tmp_path / "no-such-compiler"),
                          MBE_CACHE_DIR=str(tmp_path / "empty-cache"))
    assert (full["loaded"], plain["loaded"], bare["loaded"]) == (True, True, False)
    assert plain["openmp"] is False
    assert "falls back to its torch path" in warned and "no-such-compiler" in warned
    assert plain["digest"] == full["digest"] == bare["digest"]
    assert plain["report"] == full["report"] == bare["report"]
