"""timm Vision Transformers (the paper's ViT-M/16 is `vit_medium_patch16_reg4_gap_256`).

timm is optional: this module is imported only to convert a timm model. timm's attention
modules run one
fused `F.scaled_dot_product_attention` call when `fused_attn` is set, and an inline
`q @ kᵀ`, `softmax`, `@ v` otherwise. A converter that looks for an explicit softmax finds
nothing in the fused form and converts nothing. Here `prepare` turns fused attention on for
every module that has the switch, and the audit routes each fused call to a spiking
`AttentionSite` (see `mbe.conversion.functional`), so the whole attention is converted in one
place whatever the user's `TIMM_FUSED_ATTN` setting.
"""
from __future__ import annotations

from torch import nn

from . import cnn
from .sites import LayerNormSite, Site

from timm.layers import LayerNorm as _TimmLayerNorm

NAME = "timm"


def module_site(module: nn.Module, path: str) -> Site | None:
    if type(module) is _TimmLayerNorm:  # F.layer_norm over the last dims, like nn.LayerNorm
        return LayerNormSite(module)
    return cnn.module_site(module, path)


def float_reason(module: nn.Module) -> str | None:
    return cnn.float_reason(module)


def prepare(model: nn.Module) -> list[Site]:
    """Route every timm attention through its fused call (converted as a whole)."""
    for module in model.modules():
        if isinstance(getattr(module, "fused_attn", None), bool):
            module.fused_attn = True
    return []
