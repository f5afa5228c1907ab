"""
PyTorch side of `npm run bench:train -- --against-pytorch` and `npm run bench:infer -- --against-pytorch`: the
bench-tiny DINO step (or teacher inference) as the official code states it (facebookresearch/dino: ViT, DINOHead,
MultiCropWrapper, DINOLoss, clip_gradients, AdamW param groups, EMA), driven line by line from stdin so that the
Node bench can alternate it with ours in one run:

    /usr/bin/python3 scripts/reference/bench_tiny_torch.py train|infer [--batch 32] [--threads 2] [--model tiny]
    stdin:  "warmup N" | "run" | "quit"      stdout: one JSON object per command (wall and process CPU ms per run)

It is a measuring tool, not part of the product. `infer --model vits16|vits8|vits14` times a pretrained preset's
backbone at 224 px instead of bench-tiny's. `export-onnx PATH [--model M] [--batch B]` writes the backbone as ONNX
for `bench:infer -- --against-onnxruntime`.
"""
import ctypes
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import dino_models as dm

# bench-tiny (src/model/modelSizes.ts 'tiny'): ViT patch 8, dim 192, depth 6, 3 heads, 64x64 global crops,
# 4 local crops of 32x32; head 512/128/4096.
P, IMG, LOCAL, D, DEPTH, H, HID, BOT, OUT, NLOCAL = 8, 64, 32, 192, 6, 3, 512, 128, 4096, 4

# Backbones for `infer --model` (src/model/modelSizes.ts): patch, dim, depth, heads, position grid in pixels,
# LayerScale, input size. vits14 (DINOv2) keeps its 518 px grid and interpolates it to the 224 px input per call.
MODELS = {
    'tiny': (P, D, DEPTH, H, IMG, None, IMG),
    'vits16': (16, 384, 12, 6, 224, None, 224),
    'vits8': (8, 384, 12, 6, 224, None, 224),
    'vits14': (14, 384, 12, 6, 518, 1e-5, 224),
}


def MultiCropWrapper():
    return dm.MultiCropWrapper(dm.VisionTransformer(P, D, DEPTH, H, IMG), dm.DINOHead(D, HID, BOT, OUT))


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


def backbone(model):
    p, dim, depth, heads, grid, ls, size = MODELS[model]
    return dm.VisionTransformer(p, dim, depth, heads, grid, layer_scale=ls).eval(), size


class Infer:
    """Teacher inference of a batch of images: the backbone's CLS feature, as the bench reads ours back."""

    def __init__(s, B, model):
        s.model, size = backbone(model)
        s.x = torch.rand(B, 3, size, size, generator=torch.Generator().manual_seed(0)) * 4 - 2

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
        m, size = backbone(opt('--model', 'tiny'))
        n = (size // m.p) ** 2 + 1
        if m.pos_embed.shape[1] != n:
            # opset 14 cannot export a bicubic resize by scale factor: the grid for this input size is baked in
            with torch.no_grad():
                m.pos_embed = nn.Parameter(m.interpolate_pos_encoding(torch.zeros(1, n, m.pos_embed.shape[-1]), size, size))
        torch.onnx.export(m, torch.zeros(B, 3, size, size), args[1], input_names=['images'], output_names=['cls'],
                          opset_version=14, do_constant_folding=True)
        print(json.dumps({'exported': args[1], 'torch': torch.__version__}))
        return
    B = int(opt('--batch', '32'))
    job = TrainStep(B) if mode == 'train' else Infer(B, opt('--model', 'tiny'))
    print(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_info()}),
          flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd: continue
        if cmd[0] == 'quit': break
        n = int(cmd[1]) if len(cmd) > 1 else 1
        times, cpu = [], []
        for _ in range(n):
            c0 = time.process_time(); t0 = time.perf_counter(); job.run()
            times.append((time.perf_counter() - t0) * 1000); cpu.append((time.process_time() - c0) * 1000)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({'ms': times, 'cpuMs': cpu, 'peakRssMb': rss}), flush=True)


if __name__ == '__main__':
    main()
