"""
The official DINO modules (facebookresearch/dino vision_transformer.py, DINOHead, MultiCropWrapper) restated once
for the PyTorch scripts beside this file (fixtures, pretrained-weight fixtures, the side-by-side benches). Module
and parameter names are the official state dict's. Imported by those scripts, not part of the product.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(s, dim, heads):
        super().__init__(); s.h = heads; s.scale = (dim // heads) ** -0.5
        s.qkv = nn.Linear(dim, dim * 3, bias=True); s.proj = nn.Linear(dim, dim)

    def forward(s, x):
        Bn, N, C = x.shape
        qkv = s.qkv(x).reshape(Bn, N, 3, s.h, C // s.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * s.scale).softmax(dim=-1)
        return s.proj((attn @ v).transpose(1, 2).reshape(Bn, N, C))


class Mlp(nn.Module):
    def __init__(s, dim, hidden):
        super().__init__(); s.fc1 = nn.Linear(dim, hidden); s.act = nn.GELU(); s.fc2 = nn.Linear(hidden, dim)

    def forward(s, x): return s.fc2(s.act(s.fc1(x)))


class Block(nn.Module):
    """Pre-norm block; with layer_scale (DINOv2) each branch is multiplied by its learned vector (ls1, ls2)."""

    def __init__(s, dim, heads, layer_scale=None):
        super().__init__()
        s.norm1 = nn.LayerNorm(dim, eps=1e-6); s.attn = Attention(dim, heads)
        s.norm2 = nn.LayerNorm(dim, eps=1e-6); s.mlp = Mlp(dim, dim * 4)
        s.ls1 = s.ls2 = None
        if layer_scale is not None:
            s.ls1 = nn.Parameter(torch.full((dim,), layer_scale)); s.ls2 = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(s, x):
        if s.ls1 is None:
            x = x + s.attn(s.norm1(x))
            return x + s.mlp(s.norm2(x))
        x = x + s.ls1 * s.attn(s.norm1(x))
        return x + s.ls2 * s.mlp(s.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(s, p, dim):
        super().__init__(); s.proj = nn.Conv2d(3, dim, kernel_size=p, stride=p)

    def forward(s, x): return s.proj(x).flatten(2).transpose(1, 2)


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=.02)
        if m.bias is not None: nn.init.constant_(m.bias, 0)
    elif isinstance(m, nn.LayerNorm):
        nn.init.constant_(m.bias, 0); nn.init.constant_(m.weight, 1.0)


class VisionTransformer(nn.Module):
    """vision_transformer.py with num_classes=0: the feature is norm(x)[:, 0]. `init`: the official init (trunc
    normal); else PyTorch's defaults (for weights that are set afterwards)."""

    def __init__(s, p, dim, depth, heads, img, layer_scale=None, init=True):
        super().__init__()
        s.p = p; s.patch_embed = PatchEmbed(p, dim); n = (img // p) ** 2
        s.cls_token = nn.Parameter(torch.zeros(1, 1, dim)); s.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        s.blocks = nn.ModuleList([Block(dim, heads, layer_scale) for _ in range(depth)])
        s.norm = nn.LayerNorm(dim, eps=1e-6)
        if init:
            nn.init.trunc_normal_(s.pos_embed, std=.02); nn.init.trunc_normal_(s.cls_token, std=.02)
            s.apply(init_weights)

    def interpolate_pos_encoding(s, x, w, h):
        npatch = x.shape[1] - 1; N = s.pos_embed.shape[1] - 1
        if npatch == N and w == h: return s.pos_embed
        cls = s.pos_embed[:, 0]; pp = s.pos_embed[:, 1:]; dim = x.shape[-1]
        w0 = w // s.p + 0.1; h0 = h // s.p + 0.1
        pp = F.interpolate(pp.reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
                           scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)), mode='bicubic')
        return torch.cat((cls.unsqueeze(0), pp.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)

    def forward(s, x):
        Bn, _, w, h = x.shape
        t = torch.cat((s.cls_token.expand(Bn, -1, -1), s.patch_embed(x)), dim=1)
        t = t + s.interpolate_pos_encoding(t, w, h)
        for b in s.blocks: t = b(t)
        return s.norm(t)[:, 0]


class DINOHead(nn.Module):
    def __init__(s, dim, hidden, bottleneck, out, init=True):
        super().__init__()
        s.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                              nn.Linear(hidden, bottleneck))
        if init: s.apply(init_weights)
        s.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, out, bias=False))
        s.last_layer.weight_g.data.fill_(1); s.last_layer.weight_g.requires_grad = False

    def forward(s, x): return s.last_layer(F.normalize(s.mlp(x), dim=-1, p=2))


class MultiCropWrapper(nn.Module):
    def __init__(s, backbone, head):
        super().__init__(); s.backbone = backbone; s.head = head

    def forward(s, x):
        idx = torch.cumsum(torch.unique_consecutive(torch.tensor([i.shape[-1] for i in x]), return_counts=True)[1], 0)
        start, out = 0, torch.empty(0)
        for end in idx:
            out = torch.cat((out, s.backbone(torch.cat(x[start:end])))); start = end
        return s.head(out)
