"""
Fixtures for loading pretrained weights, made with PyTorch (Debian python3-torch) by small re-statements of the
official models: facebookresearch/dino's VisionTransformer (and a full training checkpoint with DINOHead), and
Hugging Face's Dinov2Model / Dinov2WithRegistersModel (LayerScale, register tokens, their interpolate_pos_encoding).
The weights are saved as the official files are (torch.save zip and legacy formats, .safetensors written by hand by
its specification), with the CLS embeddings PyTorch computes for deterministic images at several sizes (the
position embeddings are interpolated for all but one). A test tool, not part of the product: run it by hand
    /usr/bin/python3 scripts/reference/pretrained_reference.py test/fixtures/pretrained
"""
import argparse, collections, json, math, os, struct, sys
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

torch.manual_seed(0)
OUT = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/pretrained'


class Attention(nn.Module):
    def __init__(s, dim, heads):
        super().__init__(); s.h = heads; s.scale = (dim // heads) ** -0.5
        s.qkv = nn.Linear(dim, dim * 3); s.proj = nn.Linear(dim, dim)
    def forward(s, x):
        B, N, C = x.shape
        qkv = s.qkv(x).reshape(B, N, 3, s.h, C // s.h).permute(2, 0, 3, 1, 4)
        a = ((qkv[0] @ qkv[1].transpose(-2, -1)) * s.scale).softmax(-1)
        return s.proj((a @ qkv[2]).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(s, dim, hidden):
        super().__init__(); s.fc1 = nn.Linear(dim, hidden); s.act = nn.GELU(); s.fc2 = nn.Linear(hidden, dim)
    def forward(s, x): return s.fc2(s.act(s.fc1(x)))


class Block(nn.Module):
    def __init__(s, dim, heads):
        super().__init__()
        s.norm1 = nn.LayerNorm(dim, eps=1e-6); s.attn = Attention(dim, heads)
        s.norm2 = nn.LayerNorm(dim, eps=1e-6); s.mlp = Mlp(dim, 4 * dim)
    def forward(s, x):
        x = x + s.attn(s.norm1(x))
        return x + s.mlp(s.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(s, p, dim):
        super().__init__(); s.proj = nn.Conv2d(3, dim, kernel_size=p, stride=p)
    def forward(s, x): return s.proj(x).flatten(2).transpose(1, 2)


class DinoViT(nn.Module):
    """facebookresearch/dino vision_transformer.py (num_classes=0): the names of its state dict."""
    def __init__(s, p, dim, depth, heads, img):
        super().__init__()
        s.p = p; s.patch_embed = PatchEmbed(p, dim); n = (img // p) ** 2
        s.cls_token = nn.Parameter(torch.zeros(1, 1, dim)); s.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        s.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)]); s.norm = nn.LayerNorm(dim, eps=1e-6)
    def interpolate_pos_encoding(s, x, w, h):
        npatch = x.shape[1] - 1; N = s.pos_embed.shape[1] - 1
        if npatch == N and w == h: return s.pos_embed
        cls = s.pos_embed[:, 0]; pp = s.pos_embed[:, 1:]; dim = x.shape[-1]
        w0 = w // s.p + 0.1; h0 = h // s.p + 0.1
        pp = F.interpolate(pp.reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
                           scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)), mode='bicubic')
        return torch.cat((cls.unsqueeze(0), pp.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)
    def forward(s, x):
        B, _, w, h = x.shape
        t = torch.cat((s.cls_token.expand(B, -1, -1), s.patch_embed(x)), dim=1)
        t = t + s.interpolate_pos_encoding(t, w, h)
        for b in s.blocks: t = b(t)
        return s.norm(t)[:, 0]


class DINOHead(nn.Module):
    def __init__(s, dim, hidden, bottleneck, out):
        super().__init__()
        s.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, bottleneck))
        s.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, out, bias=False))
        s.last_layer.weight_g.data.fill_(1)
    def forward(s, x):
        return s.last_layer(F.normalize(s.mlp(x), dim=-1, p=2))


class Wrapper(nn.Module):
    def __init__(s, backbone, head):
        super().__init__(); s.backbone = backbone; s.head = head


# Hugging Face transformers Dinov2Model / Dinov2WithRegistersModel, module names as theirs
class HfSelfAttention(nn.Module):
    def __init__(s, dim):
        super().__init__(); s.query = nn.Linear(dim, dim); s.key = nn.Linear(dim, dim); s.value = nn.Linear(dim, dim)


class HfSelfOutput(nn.Module):
    def __init__(s, dim):
        super().__init__(); s.dense = nn.Linear(dim, dim)


class HfAttention(nn.Module):
    def __init__(s, dim, heads):
        super().__init__(); s.attention = HfSelfAttention(dim); s.output = HfSelfOutput(dim); s.h = heads
    def forward(s, x):
        B, N, C = x.shape; hd = C // s.h
        split = lambda t: t.view(B, N, s.h, hd).transpose(1, 2)
        q, k, v = split(s.attention.query(x)), split(s.attention.key(x)), split(s.attention.value(x))
        a = torch.softmax((q @ k.transpose(-1, -2)) * hd ** -0.5, dim=-1)
        return s.output.dense((a @ v).transpose(1, 2).reshape(B, N, C))


class HfLayerScale(nn.Module):
    def __init__(s, dim):
        super().__init__(); s.lambda1 = nn.Parameter(torch.ones(dim))
    def forward(s, x): return x * s.lambda1


class HfLayer(nn.Module):
    def __init__(s, dim, heads):
        super().__init__()
        s.norm1 = nn.LayerNorm(dim, eps=1e-6); s.attention = HfAttention(dim, heads); s.layer_scale1 = HfLayerScale(dim)
        s.norm2 = nn.LayerNorm(dim, eps=1e-6); s.mlp = Mlp(dim, 4 * dim); s.layer_scale2 = HfLayerScale(dim)
    def forward(s, x):
        x = s.layer_scale1(s.attention(s.norm1(x))) + x
        return s.layer_scale2(s.mlp(s.norm2(x))) + x


class HfPatchEmbeddings(nn.Module):
    def __init__(s, p, dim):
        super().__init__(); s.projection = nn.Conv2d(3, dim, kernel_size=p, stride=p)


class HfEmbeddings(nn.Module):
    def __init__(s, p, dim, img, registers):
        super().__init__()
        s.p = p; s.registers = registers
        s.cls_token = nn.Parameter(torch.zeros(1, 1, dim)); s.mask_token = nn.Parameter(torch.zeros(1, dim))
        if registers: s.register_tokens = nn.Parameter(torch.zeros(1, registers, dim))
        s.patch_embeddings = HfPatchEmbeddings(p, dim)
        s.position_embeddings = nn.Parameter(torch.zeros(1, (img // p) ** 2 + 1, dim))
    def interpolate_pos_encoding(s, emb, height, width):
        num_patches = emb.shape[1] - 1; num_positions = s.position_embeddings.shape[1] - 1
        if num_patches == num_positions and height == width: return s.position_embeddings
        cls = s.position_embeddings[:, :1]; pp = s.position_embeddings[:, 1:]; dim = emb.shape[-1]
        M = int(num_positions ** 0.5)
        pp = pp.reshape(1, M, M, dim).permute(0, 3, 1, 2)
        # Dinov2Model: size, no antialias; Dinov2WithRegistersModel: size with antialias
        pp = F.interpolate(pp, size=(height // s.p, width // s.p), mode='bicubic', align_corners=False,
                           antialias=bool(s.registers))
        return torch.cat((cls, pp.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)
    def forward(s, x):
        B, _, h, w = x.shape
        e = s.patch_embeddings.projection(x).flatten(2).transpose(1, 2)
        e = torch.cat((s.cls_token.expand(B, -1, -1), e), dim=1)
        e = e + s.interpolate_pos_encoding(e, h, w)
        if s.registers: e = torch.cat((e[:, :1], s.register_tokens.expand(B, -1, -1), e[:, 1:]), dim=1)
        return e


class HfEncoder(nn.Module):
    def __init__(s, dim, depth, heads):
        super().__init__(); s.layer = nn.ModuleList([HfLayer(dim, heads) for _ in range(depth)])


class HfDinov2(nn.Module):
    def __init__(s, p, dim, depth, heads, img, registers=0):
        super().__init__()
        s.embeddings = HfEmbeddings(p, dim, img, registers); s.encoder = HfEncoder(dim, depth, heads)
        s.layernorm = nn.LayerNorm(dim, eps=1e-6)
    def forward(s, x):
        t = s.embeddings(x)
        for l in s.encoder.layer: t = l(t)
        return s.layernorm(t)[:, 0]


def randomise(m, std=0.3):
    """Weights of a trained scale (init values would leave every block near the identity and test little)."""
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith('norm1.weight') or n.endswith('norm2.weight') or n.endswith('norm.weight') or n.endswith('layernorm.weight'):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif 'lambda1' in n or n.endswith('gamma'):
                p.copy_(0.5 + torch.rand_like(p))
            elif 'weight_g' in n:
                p.fill_(1)
            else:
                p.copy_(std * torch.randn_like(p))


def images(B, S):
    """The deterministic test images, normalised-pixel scale, [B, 3, S, S] (the test computes the same formula)."""
    b, c, h, w = np.meshgrid(np.arange(B), np.arange(3), np.arange(S), np.arange(S), indexing='ij')
    x = np.sin(0.7 * h + 1.3 * w + 2.1 * c + 0.5 * b) + 0.5 * np.cos(0.31 * h * w / S + c - b)
    return torch.tensor(x.astype(np.float32))


def save_safetensors(path, sd, dtype):
    names = sorted(sd)
    tag = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16'}[dtype]
    header, blobs, off = {'__metadata__': {'format': 'pt'}}, [], 0
    for n in names:
        t = sd[n].detach().to(dtype).contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if dtype == torch.bfloat16 else t.numpy().tobytes()
        header[n] = {'dtype': tag, 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h)
        for r in blobs: f.write(r)


def rounded(m, dtype):
    """Round the weights to the dtype a file stores them in; PyTorch then computes in float32, as we do."""
    with torch.no_grad():
        for p in m.parameters(): p.copy_(p.to(dtype).to(torch.float32))


def cases(model, sizes, B=2):
    with torch.no_grad():
        return [{'size': S, 'cls': model(images(B, S)).reshape(-1).tolist()} for S in sizes]


os.makedirs(OUT, exist_ok=True)
ref = {}

# DINO ViT, patch 8, position grid 4 (32 px): .pth (zip), .pth (legacy), .safetensors; 24 and 48 px interpolate
dino = DinoViT(p=8, dim=16, depth=2, heads=2, img=32); randomise(dino)
torch.save(dino.state_dict(), f'{OUT}/dino_vit_p8.pth')
torch.save(dino.state_dict(), f'{OUT}/dino_vit_p8_legacy.pth', _use_new_zipfile_serialization=False)
save_safetensors(f'{OUT}/dino_vit_p8.safetensors', dino.state_dict(), torch.float32)
ref['dino_vit_p8'] = {'heads': 2, 'cases': cases(dino, [32, 24, 48])}

# A full DINO training checkpoint (main_dino.py's save_dict) of the `micro` shape: DDP student, teacher, heads
student = Wrapper(DinoViT(p=4, dim=16, depth=2, heads=2, img=16), DINOHead(16, 32, 16, 64)); randomise(student)
teacher = Wrapper(DinoViT(p=4, dim=16, depth=2, heads=2, img=16), DINOHead(16, 32, 16, 64))
teacher.load_state_dict(student.state_dict())
with torch.no_grad():
    for p in teacher.parameters(): p.add_(0.05 * torch.randn_like(p))
    teacher.head.last_layer.weight_g.fill_(1)
opt = torch.optim.AdamW(student.parameters(), lr=1e-3)
args = argparse.Namespace(arch='vit_micro', patch_size=4, out_dim=64, norm_last_layer=True, lr=np.float64(5e-4),
                          momentum_teacher=0.996, local_crops_scale=(0.05, 0.4), data_path='/path/to/imagenet/train/')
torch.save({'student': collections.OrderedDict(('module.' + k, v) for k, v in student.state_dict().items()),
            'teacher': teacher.state_dict(), 'optimizer': opt.state_dict(), 'epoch': 3, 'args': args,
            'dino_loss': {'center': torch.zeros(1, 64)}}, f'{OUT}/dino_full_checkpoint_micro.pth')
with torch.no_grad():
    x = images(2, 16)
    ref['dino_full_checkpoint_micro'] = {
        'heads': 2,
        'student': {'size': 16, 'cls': student.backbone(x).reshape(-1).tolist(),
                    'logits': student.head(student.backbone(x)).reshape(-1).tolist()},
        'teacher': {'size': 16, 'cls': teacher.backbone(x).reshape(-1).tolist(),
                    'logits': teacher.head(teacher.backbone(x)).reshape(-1).tolist()},
    }

# Hugging Face DINOv2 with registers and LayerScale, patch 14, grid 5 (70 px), saved as F16: 42 and 98 px interpolate
reg = HfDinov2(p=14, dim=16, depth=2, heads=2, img=70, registers=4); randomise(reg); rounded(reg, torch.float16)
save_safetensors(f'{OUT}/hf_dinov2_reg_p14_f16.safetensors', reg.state_dict(), torch.float16)
ref['hf_dinov2_reg_p14_f16'] = {'heads': 2, 'cases': cases(reg, [70, 42, 98])}

# Hugging Face DINOv2 without registers (its interpolation has no antialias), saved as BF16
v2 = HfDinov2(p=14, dim=16, depth=2, heads=2, img=70); randomise(v2); rounded(v2, torch.bfloat16)
save_safetensors(f'{OUT}/hf_dinov2_p14_bf16.safetensors', v2.state_dict(), torch.bfloat16)
ref['hf_dinov2_p14_bf16'] = {'heads': 2, 'cases': cases(v2, [70, 42, 98])}

with open(f'{OUT}/reference.json', 'w') as f:
    json.dump(ref, f)
print('wrote', OUT, file=sys.stderr)
