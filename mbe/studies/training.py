"""One deterministic training loop for every stand-in model (text, language, vision).

`train(model, epoch_batches, loss_of, recipe, seed)`: AdamW (no weight decay on biases and
normalisation weights), a learning rate warmed up linearly over `recipe.warmup` of the steps
and decayed linearly to 0, gradients clipped to norm `recipe.clip`. `epoch_batches(generator)`
returns one epoch's batches, drawn with the seeded generator; dropout draws from torch's
global generator, seeded by `seed` too. The loop runs on `FIT_THREADS` torch threads (as the
neuron fits do), since float reductions round differently on other counts: with the thread
count, torch version and seed fixed, the same model comes out.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..core.fitting import pinned_threads


@dataclass(frozen=True)
class Recipe:
    """How a stand-in is trained. `max_steps` cuts the run short (tiny test runs)."""

    epochs: int = 1
    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.06
    clip: float = 1.0
    max_steps: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, plain = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": plain, "weight_decay": 0.0}]


def train(model: nn.Module, epoch_batches, loss_of, recipe: Recipe, seed: int,
          log=None, log_every: int = 100) -> dict:
    """Train `model` in place (module docstring); returns its history: mean loss per epoch,
    steps, seconds. `log(text)`, when given, hears a line every `log_every` steps and at the
    end of every epoch."""
    with pinned_threads():
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        epochs = [epoch_batches(generator) for _ in range(recipe.epochs)]
        total = sum(len(e) for e in epochs)
        total = min(total, recipe.max_steps) if recipe.max_steps else total
        warm = max(1, round(recipe.warmup * total))
        optimizer = torch.optim.AdamW(_parameter_groups(model, recipe.weight_decay),
                                      lr=recipe.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / (total - warm + 1))))
        losses, step, start = [], 0, time.perf_counter()
        for epoch, batches in enumerate(epochs):
            running = []
            for batch in batches:
                if step == total:
                    break
                loss = loss_of(model, batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                running.append(loss.item())
                step += 1
                if log and step % log_every == 0:
                    recent = running[-log_every:]
                    log(f"step {step}/{total}: loss {sum(recent) / len(recent):.4f}, "
                        f"{time.perf_counter() - start:.0f} s")
            if running:
                losses.append(sum(running) / len(running))
                if log:
                    log(f"epoch {epoch + 1}/{len(epochs)}: mean loss {losses[-1]:.4f}, "
                        f"{step}/{total} steps, {time.perf_counter() - start:.0f} s")
        model.eval()
    return {"epoch_losses": losses, "steps": step, "seconds": time.perf_counter() - start}


def bucketed_order(lengths: list[int], batch_size: int, generator: torch.Generator,
                   pool: int = 50) -> list[list[int]]:
    """Batches of indices for one epoch: a random permutation cut into pools of `pool`
    batches, each pool sorted by length and batched, the batches then shuffled. Batches hold
    sequences of similar length (less padding), and every epoch draws a new order."""
    perm = torch.randperm(len(lengths), generator=generator).tolist()
    batches = []
    for start in range(0, len(perm), pool * batch_size):
        chunk = sorted(perm[start:start + pool * batch_size], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in order]
