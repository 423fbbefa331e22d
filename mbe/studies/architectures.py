"""The stand-ins' architectures, built from a name and a size.

Hugging Face classes (the paper's families, so that conversion runs the same code as on the
real checkpoints): `BertForSequenceClassification` (all-MiniLM-L6-v2 with a head),
`RobertaForSequenceClassification`, `GPT2LMHeadModel`, `ViTForImageClassification`.
Plain torch CNNs for the paper's VGG-16 and ResNet-34 rows (Table 1, T = 10):

- `VGGStyle`: stages of 3x3 convolution, BatchNorm and ReLU, each closed by a 2x2 max pool,
  then global average pooling and a ReLU MLP head (VGG's fully connected classifier, small).
- `ResNetStyle`: a 3x3 stem, then stages of basic blocks (conv-BN-ReLU-conv-BN plus the
  shortcut, then ReLU; a strided 1x1 projection where the shape changes), global average
  pooling and a linear head; one max pool after the stem, as ResNet-34 has.

`roberta_from_minilm` builds a RoBERTa-architecture classifier from all-MiniLM-L6-v2's
pretrained encoder (no RoBERTa weights exist offline, docs/decisions.md): the same weights
under RoBERTa's names, its position table shifted by RoBERTa's padding offset, BERT's pooler
as the dense layer of RoBERTa's classification head. Before fine-tuning it computes what the
BERT model with the same head computes (a test holds it to that).
"""
from __future__ import annotations

import torch
from torch import nn


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out)]


class VGGStyle(nn.Module):
    """`stages` lists each stage's (channels, convolutions); module docstring."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 stages=((16, 2), (32, 2), (64, 2)), hidden: int = 128):
        super().__init__()
        layers, c = [], in_channels
        for channels, convs in stages:
            for _ in range(convs):
                layers += _conv_bn(c, channels) + [nn.ReLU()]
                c = channels
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c, hidden), nn.ReLU(),
                                        nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, plus the shortcut (a strided 1x1 projection where the shape
    changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(c_in, c_out, stride), nn.ReLU(),
                                  *_conv_bn(c_out, c_out))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetStyle(nn.Module):
    """`stages` lists each stage's (channels, blocks); the first stage keeps the
    resolution, each later one halves it (module docstring)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 stages=((16, 1), (32, 1), (64, 1)), stem: int = 16):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_channels, stem), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        blocks, c = [], stem
        for i, (channels, count) in enumerate(stages):
            for j in range(count):
                blocks.append(BasicBlock(c, channels, 2 if i and not j else 1))
                c = channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x):
        return self.head(self.pool(self.blocks(self.stem(x))))


CNNS = {"vgg": VGGStyle, "resnet": ResNetStyle}


def roberta_from_minilm(bert_classifier) -> nn.Module:
    """A `RobertaForSequenceClassification` holding a `BertForSequenceClassification`'s
    weights (module docstring). BERT's pad token must be id 0 (it is in MiniLM's
    vocabulary): RoBERTa numbers positions from its pad id + 1."""
    from transformers import RobertaConfig, RobertaForSequenceClassification

    bert_config = bert_classifier.config
    if bert_config.pad_token_id != 0:
        raise ValueError(f"pad_token_id={bert_config.pad_token_id}: expected a BERT vocabulary "
                         "with [PAD] = 0")
    offset = bert_config.pad_token_id + 1
    config = RobertaConfig(**{k: getattr(bert_config, k) for k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
        "intermediate_size", "hidden_act", "hidden_dropout_prob",
        "attention_probs_dropout_prob", "layer_norm_eps", "num_labels", "id2label",
        "label2id")}, max_position_embeddings=bert_config.max_position_embeddings + offset,
        type_vocab_size=1, pad_token_id=bert_config.pad_token_id,
        classifier_dropout=bert_config.classifier_dropout)
    roberta = RobertaForSequenceClassification(config)
    old = bert_classifier.state_dict()
    new = {}
    for name, value in old.items():
        if name.startswith("bert.pooler.dense."):
            new[name.replace("bert.pooler.dense.", "classifier.dense.")] = value
        elif name.startswith("classifier."):
            new[name.replace("classifier.", "classifier.out_proj.")] = value
        elif name == "bert.embeddings.position_embeddings.weight":
            table = torch.zeros(config.max_position_embeddings, value.shape[1])
            table[offset:] = value
            new["roberta.embeddings.position_embeddings.weight"] = table
        elif name == "bert.embeddings.token_type_embeddings.weight":
            new["roberta.embeddings.token_type_embeddings.weight"] = value[:1]
        elif name != "bert.embeddings.position_ids":
            new[name.replace("bert.", "roberta.", 1)] = value
    missing, unexpected = roberta.load_state_dict(new, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"weights did not map onto RoBERTa: missing {missing}, "
                           f"unexpected {unexpected}")
    return roberta.eval()
