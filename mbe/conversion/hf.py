"""Hugging Face transformers (ViT, BERT, RoBERTa, GPT-2, ...), by class and configuration.

Attention in transformers 5 runs through a registry: each attention module calls
`ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, ...)`, and the mask
builders (`create_causal_mask`, `create_bidirectional_mask`) look up the same name in
`ALL_MASK_ATTENTION_FUNCTIONS`. A name registered for attention but not for masks makes the
mask builders return no mask at all: GPT-2 would silently lose its causal mask. So this
module registers both under "mbe":

- attention: the module's `AttentionSite` (spike multiplies and the Eq. 13 softmax);
- masks: the boolean masks of the "sdpa" builder (True = attend), with the causal-mask skip
  turned off, since that skip relies on an `is_causal` flag only SDPA understands.

The converted model is the original class with its config switched to "mbe" (through
`set_attn_implementation`) and its sites swapped in, so `generate()`, output classes and
everything else of the Hugging Face interface keep working.
"""
from __future__ import annotations

import functools
import inspect

from torch import nn
from transformers.activations import (FastGELUActivation, GELUActivation, GELUTanh,
                                      NewGELUActivation, SiLUActivation)
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.modeling_utils import AttentionInterface
from transformers.pytorch_utils import Conv1D

from . import cnn
from .replace import attach_attention_site
from .sites import ActivationSite, ConversionError, Site

NAME = "huggingface"
IMPLEMENTATION = "mbe"

#: transformers' activation classes -> the function they compute. GPT-2's `gelu_new` is the
#: tanh approximation, BERT/RoBERTa/ViT's `gelu` the exact erf form: different neurons.
_ACTIVATIONS = {GELUActivation: "gelu", NewGELUActivation: "gelu_tanh", GELUTanh: "gelu_tanh",
                FastGELUActivation: "gelu_tanh", SiLUActivation: "silu"}


def _attention(module: nn.Module, query, key, value, attention_mask, scaling=None,
               dropout: float = 0.0, **kwargs):
    """The "mbe" attention function: (context (B, Q, H, D), probabilities)."""
    site = getattr(module, "mbe_attention", None)
    if site is None:
        raise ConversionError(f"{type(module).__name__} uses the '{IMPLEMENTATION}' attention "
                              "but has no attention site: convert the model with "
                              "mbe.convert instead of setting attn_implementation by hand")
    if dropout:
        raise ConversionError(f"{type(module).__name__}: attention dropout is on; convert "
                              "and run the model in eval mode")
    context, probs = site(query, key, value, attention_mask, scaling)
    return context.transpose(1, 2).contiguous(), probs


def _mask(*args, **kwargs):
    """Boolean attention masks (True = attend), never skipped for causal attention."""
    kwargs["allow_is_causal_skip"] = False
    return sdpa_mask(*args, **kwargs)


AttentionInterface.register(IMPLEMENTATION, _attention)
AttentionMaskInterface.register(IMPLEMENTATION, _mask)


def module_site(module: nn.Module, path: str) -> Site | None:
    kind = _ACTIVATIONS.get(type(module))
    if kind is not None:
        return ActivationSite(kind, module)
    return cnn.module_site(module, path)


def float_reason(module: nn.Module) -> str | None:
    return "weights" if isinstance(module, Conv1D) else cnn.float_reason(module)


@functools.cache
def _dispatches_attention(cls: type) -> bool:
    """Does this module class compute attention through the registry? (Read from its source,
    as transformers itself decides whether a model can switch implementation.)"""
    try:
        return "ALL_ATTENTION_FUNCTIONS.get_interface(" in inspect.getsource(cls.forward)
    except (OSError, TypeError):
        return False


def prepare(model: nn.Module) -> list[Site]:
    """Attach an attention site to every registry-dispatched attention module; switch the
    model (its copy) to the "mbe" attention and mask functions."""
    sites = [attach_attention_site(module, path, "attention interface")
             for path, module in list(model.named_modules())
             if _dispatches_attention(type(module))]
    if sites:
        model.set_attn_implementation(IMPLEMENTATION)
        if model.config._attn_implementation != IMPLEMENTATION:
            raise ConversionError(f"{type(model).__name__} cannot switch its attention "
                                  "implementation, so its attention cannot be converted")
    return sites
