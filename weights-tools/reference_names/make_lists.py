"""Writes the checked-in parameter-name lists of the public checkpoints that real weights come from:

  sd15_unet.txt       diffusers `UNet2DConditionModel` with the Stable Diffusion 1.5 config
  wav2vec2_base.txt   Hugging Face `Wav2Vec2Model` with the facebook/wav2vec2-base config
  animatediff_mm_sd_v15_v2.txt   the motion modules of AnimateDiff's `mm_sd_v15_v2.ckpt`, derived from the
                      structure (no literal key list of that file is published): guoyww/AnimateDiff
                      animatediff/models/motion_module.py and unet_blocks.py with configs/inference/inference-v2.yaml

One `name<TAB>shape` line per tensor (shape as comma-separated sizes), in the order the public module registers
them (= its state_dict order). The rules below are read off the public sources (diffusers unet_2d_condition.py,
unet_2d_blocks.py, resnet.py, transformer_2d.py, attention.py, attention_processor.py, embeddings.py;
transformers modeling_wav2vec2.py; AnimateDiff's motion_module.py, unet.py, unet_blocks.py and the
diffusers 0.11 `CrossAttention`/`FeedForward` it builds on) and are written from the config so that the derivation can be reviewed; they
do not import our reference, so `tests/test_names.py` compares two independent derivations.

Run: /usr/bin/python3 weights-tools/reference_names/make_lists.py  (rewrites the files, prints the totals)
"""

from __future__ import annotations

import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))

SD15_UNET = {
    "in_channels": 4, "out_channels": 4,
    "block_out_channels": [320, 640, 1280, 1280],
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "layers_per_block": 2, "cross_attention_dim": 768, "attention_head_dim": 8, "norm_num_groups": 32,
}
SD15_UNET_TOTAL = 859_520_964  # the published parameter count of SD-1.5's UNet

WAV2VEC2_BASE = {
    "conv_dim": [512] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_bias": False, "feat_extract_norm": "group",
    "hidden_size": 768, "num_hidden_layers": 12, "intermediate_size": 3072,
    "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16, "do_stable_layer_norm": False,
}

# AnimateDiff v2 (inference-v2.yaml): motion modules at every resolution of SD-1.5's UNet and in its mid block,
# 8 heads, one temporal transformer block of two "Temporal_Self" attentions, temporal position encoding.
ANIMATEDIFF_V2 = {"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "mid_block": True,
                  "position_table": 32}
# Not a published figure: a second count by hand, 22·C² + 21·C parameters per module (C = its width) over the 21
# modules (5 at 320, 5 at 640, 11 at 1280); the position tables (1,208,320 numbers) are buffers, not counted.
ANIMATEDIFF_V2_TOTAL = 453_209_280


class Names:
    def __init__(self):
        self.items: list[tuple[str, tuple[int, ...]]] = []

    def add(self, name: str, *shape: int):
        self.items.append((name, tuple(shape)))

    # torch.nn building blocks, names as torch registers them
    def linear(self, p: str, cin: int, cout: int, bias: bool = True):
        self.add(f"{p}.weight", cout, cin)
        if bias:
            self.add(f"{p}.bias", cout)

    def conv2d(self, p: str, cin: int, cout: int, k: int):
        self.add(f"{p}.weight", cout, cin, k, k)
        self.add(f"{p}.bias", cout)

    def norm(self, p: str, c: int):  # GroupNorm and LayerNorm alike: affine weight and bias
        self.add(f"{p}.weight", c)
        self.add(f"{p}.bias", c)


# ---------------------------------------------------------------- diffusers UNet2DConditionModel

def resnet(n: Names, p: str, cin: int, cout: int, temb: int):
    # ResnetBlock2D: norm1, conv1, time_emb_proj, norm2, conv2, then conv_shortcut (1x1) when cin != cout
    n.norm(f"{p}.norm1", cin)
    n.conv2d(f"{p}.conv1", cin, cout, 3)
    n.linear(f"{p}.time_emb_proj", temb, cout)
    n.norm(f"{p}.norm2", cout)
    n.conv2d(f"{p}.conv2", cout, cout, 3)
    if cin != cout:
        n.conv2d(f"{p}.conv_shortcut", cin, cout, 1)


def attention(n: Names, p: str, dim: int, context: int, inner: int):
    # Attention (attention_processor.py): to_q/to_k/to_v without bias (bias=False in BasicTransformerBlock),
    # to_out = ModuleList([Linear(inner, dim, bias=True), Dropout])
    n.linear(f"{p}.to_q", dim, inner, bias=False)
    n.linear(f"{p}.to_k", context, inner, bias=False)
    n.linear(f"{p}.to_v", context, inner, bias=False)
    n.linear(f"{p}.to_out.0", inner, dim)


def transformer(n: Names, p: str, c: int, heads: int, cross: int):
    # Transformer2DModel, continuous input, use_linear_projection False: GroupNorm(32, eps 1e-6), 1x1 proj_in,
    # one BasicTransformerBlock (norm1, attn1, norm2, attn2, norm3, ff), 1x1 proj_out. SD-1.5's
    # attention_head_dim 8 is really the head count (diffusers passes it as num_attention_heads), so
    # dim_head = c / 8 and inner = c.
    inner = heads * (c // heads)
    n.norm(f"{p}.norm", c)
    n.conv2d(f"{p}.proj_in", c, inner, 1)
    b = f"{p}.transformer_blocks.0"
    n.norm(f"{b}.norm1", inner)
    attention(n, f"{b}.attn1", inner, inner, inner)
    n.norm(f"{b}.norm2", inner)
    attention(n, f"{b}.attn2", inner, cross, inner)
    n.norm(f"{b}.norm3", inner)
    # FeedForward(activation "geglu", mult 4): net = [GEGLU(proj: Linear(d, 2·4d)), Dropout, Linear(4d, d)]
    n.linear(f"{b}.ff.net.0.proj", inner, 2 * 4 * inner)
    n.linear(f"{b}.ff.net.2", 4 * inner, inner)
    n.conv2d(f"{p}.proj_out", inner, c, 1)


def sd_unet(cfg: dict) -> Names:
    n = Names()
    widths = cfg["block_out_channels"]
    temb = widths[0] * 4
    heads, cross, L = cfg["attention_head_dim"], cfg["cross_attention_dim"], cfg["layers_per_block"]
    n.conv2d("conv_in", cfg["in_channels"], widths[0], 3)
    # time_proj (Timesteps) has no parameters; TimestepEmbedding: linear_1, act, linear_2
    n.linear("time_embedding.linear_1", widths[0], temb)
    n.linear("time_embedding.linear_2", temb, temb)

    # The UNet registers down_blocks and up_blocks (empty ModuleLists) before mid_block, so up_blocks precede
    # mid_block in its state dict. Inside a cross-attention block `attentions` is assigned before `resnets`.
    down = Names()
    out = widths[0]
    for i, kind in enumerate(cfg["down_block_types"]):
        inp, out = out, widths[i]
        p = f"down_blocks.{i}"
        if kind == "CrossAttnDownBlock2D":
            for j in range(L):
                transformer(down, f"{p}.attentions.{j}", out, heads, cross)
        for j in range(L):
            resnet(down, f"{p}.resnets.{j}", inp if j == 0 else out, out, temb)
        if i < len(widths) - 1:  # Downsample2D(use_conv=True): a 3x3 stride-2 conv named `conv`
            down.conv2d(f"{p}.downsamplers.0.conv", out, out, 3)

    up = Names()
    rev = list(reversed(widths))
    prev = rev[0]
    for i, kind in enumerate(cfg["up_block_types"]):
        out, inp = rev[i], rev[min(i + 1, len(widths) - 1)]
        p = f"up_blocks.{i}"
        if kind == "CrossAttnUpBlock2D":
            for j in range(L + 1):
                transformer(up, f"{p}.attentions.{j}", out, heads, cross)
        for j in range(L + 1):
            # resnet j sees the running channels (prev_output_channel for j = 0) concatenated with a skip:
            # the last resnet's skip comes from the level above (in_channels), the others from this level
            res_in = prev if j == 0 else out
            skip = inp if j == L else out
            resnet(up, f"{p}.resnets.{j}", res_in + skip, out, temb)
        if i < len(widths) - 1:  # Upsample2D(use_conv=True): nearest x2 then a 3x3 conv named `conv`
            up.conv2d(f"{p}.upsamplers.0.conv", out, out, 3)
        prev = out

    mid = Names()
    c = widths[-1]
    transformer(mid, "mid_block.attentions.0", c, heads, cross)
    resnet(mid, "mid_block.resnets.0", c, c, temb)
    resnet(mid, "mid_block.resnets.1", c, c, temb)

    n.items += down.items + up.items + mid.items
    n.norm("conv_norm_out", widths[0])
    n.conv2d("conv_out", widths[0], cfg["out_channels"], 3)
    return n


# ---------------------------------------------------------------- transformers Wav2Vec2Model

def wav2vec2(cfg: dict) -> Names:
    n = Names()
    h = cfg["hidden_size"]
    # Wav2Vec2Model: masked_spec_embed is a Parameter of the model itself (created because the base config's
    # mask_time_prob 0.05 > 0), so it comes first in the state dict; there are no quantizer / project_q /
    # project_hid heads here (those belong to Wav2Vec2ForPreTraining), and no adapter (add_adapter False).
    n.add("masked_spec_embed", h)
    # Wav2Vec2FeatureEncoder, feat_extract_norm "group": layer 0 is a Wav2Vec2GroupNormConvLayer whose GroupNorm
    # (num_groups = channels) is named `layer_norm`; the rest are Wav2Vec2NoLayerNormConvLayer (conv only).
    cin = 1
    for i, (cout, k) in enumerate(zip(cfg["conv_dim"], cfg["conv_kernel"])):
        p = f"feature_extractor.conv_layers.{i}"
        n.add(f"{p}.conv.weight", cout, cin, k)
        if cfg["conv_bias"]:
            n.add(f"{p}.conv.bias", cout)
        if i == 0 and cfg["feat_extract_norm"] == "group":
            n.norm(f"{p}.layer_norm", cout)
        cin = cout
    # Wav2Vec2FeatureProjection: LayerNorm over the last conv width, then Linear to hidden
    n.norm("feature_projection.layer_norm", cin)
    n.linear("feature_projection.projection", cin, h)
    # Wav2Vec2Encoder (do_stable_layer_norm False): pos_conv_embed, layer_norm, layers
    # pos_conv_embed.conv = weight_norm(Conv1d(h, h, K, groups=G), dim=2): bias, weight_g [1, 1, K], weight_v
    K, G = cfg["num_conv_pos_embeddings"], cfg["num_conv_pos_embedding_groups"]
    n.add("encoder.pos_conv_embed.conv.bias", h)
    n.add("encoder.pos_conv_embed.conv.weight_g", 1, 1, K)
    n.add("encoder.pos_conv_embed.conv.weight_v", h, h // G, K)
    n.norm("encoder.layer_norm", h)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layers.{i}"
        # Wav2Vec2Attention registers k_proj, v_proj, q_proj, out_proj (all with bias), in that order
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            n.linear(f"{p}.attention.{proj}", h, h)
        n.norm(f"{p}.layer_norm", h)
        n.linear(f"{p}.feed_forward.intermediate_dense", h, cfg["intermediate_size"])
        n.linear(f"{p}.feed_forward.output_dense", cfg["intermediate_size"], h)
        n.norm(f"{p}.final_layer_norm", h)
    return n


# ---------------------------------------------------------------- AnimateDiff motion modules

def motion_module(n: Names, p: str, c: int, table: int):
    # VanillaTemporalModule → temporal_transformer (TemporalTransformer3DModel): norm (GroupNorm), proj_in (Linear),
    # transformer_blocks (num_transformer_block 1), proj_out (Linear; zero-initialised, still a stored tensor).
    t = f"{p}.temporal_transformer"
    n.norm(f"{t}.norm", c)
    n.linear(f"{t}.proj_in", c, c)
    b = f"{t}.transformer_blocks.0"
    # TemporalTransformerBlock registers attention_blocks, norms, ff, ff_norm. Each VersatileAttention is a
    # diffusers 0.11 CrossAttention (to_q/to_k/to_v without bias since attention_bias is False, to_out =
    # [Linear, Dropout]) followed by its pos_encoder, whose `pe` [1, max_len, C] is stored in the released files.
    for k in range(2):
        a = f"{b}.attention_blocks.{k}"
        for proj in ("to_q", "to_k", "to_v"):
            n.linear(f"{a}.{proj}", c, c, bias=False)
        n.linear(f"{a}.to_out.0", c, c)
        n.add(f"{a}.pos_encoder.pe", 1, table, c)
    for k in range(2):
        n.norm(f"{b}.norms.{k}", c)
    # FeedForward(activation "geglu", mult 4): net.0 = GEGLU(proj: Linear(C, 2·4C)), net.2 = Linear(4C, C)
    n.linear(f"{b}.ff.net.0.proj", c, 8 * c)
    n.linear(f"{b}.ff.net.2", 4 * c, c)
    n.norm(f"{b}.ff_norm", c)
    n.linear(f"{t}.proj_out", c, c)


def animatediff(cfg: dict) -> Names:
    # The released file holds the motion modules of UNet3DConditionModel's state dict, in its order: down_blocks,
    # up_blocks, then mid_block (assigned last, as in diffusers' UNet). Every down block has layers_per_block modules
    # (DownBlock3D too), every up block layers_per_block + 1; the mid block one when motion_module_mid_block.
    n = Names()
    widths, L, table = cfg["block_out_channels"], cfg["layers_per_block"], cfg["position_table"]
    for i, c in enumerate(widths):
        for j in range(L):
            motion_module(n, f"down_blocks.{i}.motion_modules.{j}", c, table)
    for i, c in enumerate(reversed(widths)):
        for j in range(L + 1):
            motion_module(n, f"up_blocks.{i}.motion_modules.{j}", c, table)
    if cfg["mid_block"]:
        motion_module(n, "mid_block.motion_modules.0", widths[-1], table)
    return n


def write(path: str, names: Names):
    with open(path, "w") as f:
        for name, shape in names.items:
            f.write(f"{name}\t{','.join(map(str, shape))}\n")


def read_list(path: str) -> dict[str, tuple[int, ...]]:
    """Reads a list back as {name: shape}; used by the tests."""
    out: dict[str, tuple[int, ...]] = {}
    with open(path) as f:
        for line in f:
            name, shape = line.rstrip("\n").split("\t")
            if name in out:
                raise ValueError(f"{path}: duplicate name {name}")
            out[name] = tuple(int(s) for s in shape.split(","))
    return out


def total(names: Names) -> int:
    """Parameters, without AnimateDiff's position tables (buffers)."""
    return sum(math.prod(s) for k, s in names.items if not k.endswith(".pos_encoder.pe"))


def main():
    unet = sd_unet(SD15_UNET)
    assert len({k for k, _ in unet.items}) == len(unet.items), "duplicate UNet names"
    if total(unet) != SD15_UNET_TOTAL:
        raise SystemExit(f"SD-1.5 UNet derivation gives {total(unet):,} parameters, not {SD15_UNET_TOTAL:,}")
    w2v = wav2vec2(WAV2VEC2_BASE)
    motion = animatediff(ANIMATEDIFF_V2)
    if total(motion) != ANIMATEDIFF_V2_TOTAL:
        raise SystemExit(f"AnimateDiff v2 derivation gives {total(motion):,} parameters, not {ANIMATEDIFF_V2_TOTAL:,}")
    write(os.path.join(HERE, "sd15_unet.txt"), unet)
    write(os.path.join(HERE, "wav2vec2_base.txt"), w2v)
    write(os.path.join(HERE, "animatediff_mm_sd_v15_v2.txt"), motion)
    print(f"sd15_unet.txt: {len(unet.items)} tensors, {total(unet):,} parameters")
    print(f"wav2vec2_base.txt: {len(w2v.items)} tensors, {total(w2v):,} parameters")
    print(f"animatediff_mm_sd_v15_v2.txt: {len(motion.items)} tensors, {total(motion):,} parameters")


if __name__ == "__main__":
    main()
