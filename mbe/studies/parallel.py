"""Data-parallel evaluation through Hugging Face `accelerate`, exact per batch.

Launched as several processes (`accelerate launch --multi_gpu ...` on every GPU of a machine or
a cluster; `torchrun --nproc_per_node 2 ...` on CPUs), each process evaluates every P-th batch
(process i takes batches i, i + P, ...) on its own device, and the per-batch results are
gathered onto every process and combined in batch order. A batch's result does not depend on
which process computed it, so the gathered metric equals the single-process one bit for bit
on the same device. Alone (no launcher), nothing is imported from `accelerate` and every batch
runs here.
"""
from __future__ import annotations

import os

import torch


def processes():
    """The `accelerate` state of this run (process_index, num_processes, device,
    is_main_process) where a launcher started several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import PartialState

    # on a machine without CUDA the processes share the CPU (accelerate's MULTI_CPU, gloo)
    return PartialState(cpu=not torch.cuda.is_available())


def is_main() -> bool:
    """Whether this is the process that writes results (the only one when alone)."""
    state = processes()
    return state is None or state.is_main_process


def share(n: int, state) -> range:
    """The indices of the n batches this process evaluates (all of them when alone)."""
    if state is None:
        return range(n)
    return range(state.process_index, n, state.num_processes)


def gather(results: list[tuple[int, object]], state) -> list[tuple[int, object]]:
    """Every process's (batch index, result) pairs, in batch order."""
    if state is not None:
        from accelerate.utils import gather_object

        results = gather_object(results)
    return sorted(results, key=lambda item: item[0])
