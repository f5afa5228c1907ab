"""
PyTorch side of `npm run bench:train -- --against-pytorch` and `npm run bench:infer -- --against-pytorch`: the
bench-tiny DINO step (or teacher inference) as the official code states it (facebookresearch/dino: ViT, DINOHead,
MultiCropWrapper, DINOLoss, clip_gradients, AdamW param groups, EMA), driven line by line from stdin so that the
Node bench can alternate it with ours in one run:

    /usr/bin/python3 scripts/reference/bench_tiny_torch.py train|infer [--batch 32] [--threads 2]
    stdin:  "warmup N" | "run" | "quit"      stdout: one JSON object per command

It is a measuring tool, not part of the product. `export-onnx PATH` writes the teacher backbone (64x64 input,
batch 32) as ONNX for `bench:infer -- --against-onnxruntime`.
"""
import ctypes
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# bench-tiny (src/model/modelSizes.ts 'tiny'): ViT patch 8, dim 192, depth 6, 3 heads, 64x64 global crops,
# 4 local crops of 32x32; head 512/128/4096.
P, IMG, LOCAL, D, DEPTH, H, HID, BOT, OUT, NLOCAL = 8, 64, 32, 192, 6, 3, 512, 128, 4096, 4


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


class Block(nn.Module):
    def __init__(s, dim, heads):
        super().__init__()
        s.norm1 = nn.LayerNorm(dim, eps=1e-6); s.attn = Attention(dim, heads)
        s.norm2 = nn.LayerNorm(dim, eps=1e-6)
        s.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(s, x):
        x = x + s.attn(s.norm1(x))
        return x + s.mlp(s.norm2(x))


class ViT(nn.Module):
    def __init__(s):
        super().__init__()
        s.patch_embed = nn.Conv2d(3, D, kernel_size=P, stride=P); n = (IMG // P) ** 2
        s.cls_token = nn.Parameter(torch.zeros(1, 1, D)); s.pos_embed = nn.Parameter(torch.zeros(1, n + 1, D))
        s.blocks = nn.ModuleList([Block(D, H) for _ in range(DEPTH)]); s.norm = nn.LayerNorm(D, eps=1e-6)
        nn.init.trunc_normal_(s.pos_embed, std=.02); nn.init.trunc_normal_(s.cls_token, std=.02)
        s.apply(init_weights)

    def interpolate_pos_encoding(s, x, w, h):
        npatch = x.shape[1] - 1; N = s.pos_embed.shape[1] - 1
        if npatch == N and w == h: return s.pos_embed
        cls = s.pos_embed[:, 0]; pp = s.pos_embed[:, 1:]; dim = x.shape[-1]
        w0 = w // P + 0.1; h0 = h // P + 0.1
        pp = F.interpolate(pp.reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
                           scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)), mode='bicubic')
        return torch.cat((cls.unsqueeze(0), pp.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)

    def forward(s, x):
        Bn, nc, w, h = x.shape
        t = s.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat((s.cls_token.expand(Bn, -1, -1), t), dim=1)
        t = t + s.interpolate_pos_encoding(t, w, h)
        for b in s.blocks: t = b(t)
        return s.norm(t)[:, 0]


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=.02)
        if m.bias is not None: nn.init.constant_(m.bias, 0)
    elif isinstance(m, nn.LayerNorm):
        nn.init.constant_(m.bias, 0); nn.init.constant_(m.weight, 1.0)


class DINOHead(nn.Module):
    def __init__(s):
        super().__init__()
        s.mlp = nn.Sequential(nn.Linear(D, HID), nn.GELU(), nn.Linear(HID, HID), nn.GELU(), nn.Linear(HID, BOT))
        s.apply(init_weights)
        s.last_layer = nn.utils.weight_norm(nn.Linear(BOT, OUT, bias=False))
        s.last_layer.weight_g.data.fill_(1); s.last_layer.weight_g.requires_grad = False

    def forward(s, x): return s.last_layer(F.normalize(s.mlp(x), dim=-1, p=2))


class MultiCropWrapper(nn.Module):
    def __init__(s):
        super().__init__(); s.backbone = ViT(); s.head = DINOHead()

    def forward(s, x):
        idx = torch.cumsum(torch.unique_consecutive(torch.tensor([i.shape[-1] for i in x]), return_counts=True)[1], 0)
        start, out = 0, torch.empty(0)
        for end in idx:
            out = torch.cat((out, s.backbone(torch.cat(x[start:end])))); start = end
        return s.head(out)


class DINOLoss(nn.Module):
    def __init__(s, ncrops, student_temp=0.1, center_momentum=0.9):
        super().__init__(); s.ncrops = ncrops; s.student_temp = student_temp; s.center_momentum = center_momentum
        s.register_buffer('center', torch.zeros(1, OUT))

    def forward(s, student_output, teacher_output, temp):
        student_out = (student_output / s.student_temp).chunk(s.ncrops)
        teacher_out = F.softmax((teacher_output - s.center) / temp, dim=-1).detach().chunk(2)
        total, n = 0, 0
        for iq, q in enumerate(teacher_out):
            for v in range(len(student_out)):
                if v == iq: continue
                total += torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1).mean(); n += 1
        s.update_center(teacher_output)
        return total / n

    @torch.no_grad()
    def update_center(s, teacher_output):
        batch_center = torch.sum(teacher_output, dim=0, keepdim=True) / len(teacher_output)
        s.center = s.center * s.center_momentum + batch_center * (1 - s.center_momentum)


def clip_gradients(model, clip):
    for p in model.parameters():
        if p.grad is not None:
            clip_coef = clip / (p.grad.data.norm(2) + 1e-6)
            if clip_coef < 1: p.grad.data.mul_(clip_coef)


class TrainStep:
    """One step of train_one_epoch (main_dino.py) with the bench's schedules frozen at their step-0 values."""

    def __init__(s, B):
        s.student = MultiCropWrapper(); s.teacher = MultiCropWrapper()
        s.teacher.load_state_dict(s.student.state_dict())
        for p in s.teacher.parameters(): p.requires_grad = False
        reg, noreg = [], []
        for n, p in s.student.named_parameters():
            if not p.requires_grad: continue
            (noreg if n.endswith('.bias') or len(p.shape) == 1 else reg).append(p)
        s.opt = torch.optim.AdamW([{'params': reg}, {'params': noreg, 'weight_decay': 0.}], lr=5e-4 * B / 256)
        s.loss = DINOLoss(2 + NLOCAL)
        g = torch.Generator().manual_seed(0)
        s.crops = [torch.rand(B, 3, IMG, IMG, generator=g) * 4 - 2 for _ in range(2)] + \
                  [torch.rand(B, 3, LOCAL, LOCAL, generator=g) * 4 - 2 for _ in range(NLOCAL)]

    def run(s):
        crops = s.crops
        teacher_output = s.teacher(crops[:2])
        student_output = s.student(crops)
        loss = s.loss(student_output, teacher_output, 0.04)
        s.opt.zero_grad()
        loss.backward()
        clip_gradients(s.student, 3.0)
        s.opt.step()
        with torch.no_grad():
            m = 0.996
            for ps, pt in zip(s.student.parameters(), s.teacher.parameters()):
                pt.data.mul_(m).add_((1 - m) * ps.detach().data)
        return loss.item()


class Infer:
    """Teacher inference of a batch of 64x64 images: the backbone's CLS feature, as the bench reads ours back."""

    def __init__(s, B):
        s.model = ViT().eval()
        s.x = torch.rand(B, 3, IMG, IMG, generator=torch.Generator().manual_seed(0)) * 4 - 2

    @torch.no_grad()
    def run(s):
        return float(s.model(s.x)[0, 0])


def blas_info():
    """Which BLAS torch's sgemm resolved to, and OpenBLAS's core kernel when it is OpenBLAS."""
    maps = open('/proc/self/maps').read()
    libs = sorted({l.split()[-1] for l in maps.splitlines() if 'blas' in l.split()[-1].lower()})
    info = {'libs': libs, 'corename': None}
    for lib in libs:
        if 'openblas' in lib:
            try:
                ob = ctypes.CDLL(lib)
                ob.openblas_get_corename.restype = ctypes.c_char_p
                info['corename'] = ob.openblas_get_corename().decode()
                ob.openblas_get_num_threads.restype = ctypes.c_int
                info['blasThreads'] = ob.openblas_get_num_threads()
            except (OSError, AttributeError):
                pass
    return info


def main():
    args = sys.argv[1:]
    opt = lambda k, d: args[args.index(k) + 1] if k in args else d
    mode = args[0] if args else 'train'
    torch.manual_seed(0)
    torch.set_num_threads(int(opt('--threads', '2')))
    if mode == 'export-onnx':
        B = int(opt('--batch', '32'))
        m = ViT().eval()
        torch.onnx.export(m, torch.zeros(B, 3, IMG, IMG), args[1], input_names=['images'], output_names=['cls'],
                          opset_version=14, do_constant_folding=True)
        print(json.dumps({'exported': args[1], 'torch': torch.__version__}))
        return
    B = int(opt('--batch', '32'))
    job = TrainStep(B) if mode == 'train' else Infer(B)
    print(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_info()}),
          flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd: continue
        if cmd[0] == 'quit': break
        n = int(cmd[1]) if len(cmd) > 1 else 1
        times = []
        for _ in range(n):
            t0 = time.perf_counter(); job.run(); times.append((time.perf_counter() - t0) * 1000)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({'ms': times, 'peakRssMb': rss}), flush=True)


if __name__ == '__main__':
    main()
