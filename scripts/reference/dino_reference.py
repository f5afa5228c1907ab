"""
Reference fixture for the engine tests, computed with PyTorch (Debian python3-torch) by a faithful re-statement of
facebookresearch/dino (vision_transformer.py, DINOHead, MultiCropWrapper, DINOLoss, utils.clip_gradients,
utils.cancel_gradients_last_layer, utils.cosine_scheduler, the param groups and the EMA of main_dino.py).
It is a test tool, not part of the product: run it by hand to regenerate test/fixtures/dino_reference.json
    /usr/bin/python3 scripts/reference/dino_reference.py > test/fixtures/dino_reference.json
Weights are exported in the engine's layout (Linear [in, out]; patch conv as [(row, col, channel), D]).
"""
import json, math, sys
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

torch.manual_seed(0)
P, IMG, LOCAL, D, DEPTH, H, HID, BOT, OUT, NLOCAL, B = 4, 16, 8, 16, 2, 2, 32, 16, 64, 2, 2


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
    def __init__(s, dim, heads):
        super().__init__()
        s.norm1 = nn.LayerNorm(dim, eps=1e-6); s.attn = Attention(dim, heads)
        s.norm2 = nn.LayerNorm(dim, eps=1e-6); s.mlp = Mlp(dim, dim * 4)
    def forward(s, x):
        x = x + s.attn(s.norm1(x))
        return x + s.mlp(s.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(s):
        super().__init__(); s.proj = nn.Conv2d(3, D, kernel_size=P, stride=P)
    def forward(s, x): return s.proj(x).flatten(2).transpose(1, 2)


class ViT(nn.Module):
    def __init__(s):
        super().__init__()
        s.patch_embed = PatchEmbed(); n = (IMG // P) ** 2
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
        pp = pp.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((cls.unsqueeze(0), pp), dim=1)
    def forward(s, x):
        Bn, nc, w, h = x.shape
        t = s.patch_embed(x)
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


def cosine_scheduler(base, final, epochs, niter, warmup_epochs=0, start_warmup_value=0):
    warm = np.array([]); wi = warmup_epochs * niter
    if warmup_epochs > 0: warm = np.linspace(start_warmup_value, base, wi)
    iters = np.arange(epochs * niter - wi)
    sched = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warm, sched))


# run settings (mirrored by test/engine/reference.test.ts)
EPOCHS, STEPS = 10, 3
LR = 5.0 * B / 256; MIN_LR = 1e-6; WD, WD_END = 0.04, 0.4; MOM = 0.9; CLIP = 0.05; FREEZE = 1
TT_WARM, TT, TT_WARM_STEPS, STUDENT_T, CENTER_M = 0.04, 0.07, 3, 0.1, 0.9
lr_s = cosine_scheduler(LR, MIN_LR, EPOCHS, 1, warmup_epochs=0)
wd_s = cosine_scheduler(WD, WD_END, EPOCHS, 1)
m_s = cosine_scheduler(MOM, 1, EPOCHS, 1)
tt_s = np.concatenate((np.linspace(TT_WARM, TT, TT_WARM_STEPS), np.ones(EPOCHS - TT_WARM_STEPS) * TT))

student = MultiCropWrapper(); teacher = MultiCropWrapper(); teacher.load_state_dict(student.state_dict())
for p in teacher.parameters(): p.requires_grad = False
reg, noreg = [], []
for n, p in student.named_parameters():
    if not p.requires_grad: continue
    (noreg if n.endswith('.bias') or len(p.shape) == 1 else reg).append(p)
opt = torch.optim.AdamW([{'params': reg}, {'params': noreg, 'weight_decay': 0.}])
center = torch.zeros(1, OUT)


def export(m):
    out = {}
    for n, p in m.state_dict().items():
        a = p.detach().clone()
        if n.endswith('patch_embed.proj.weight'): a = a.permute(2, 3, 1, 0).reshape(P * P * 3, D)
        elif n.endswith('weight_v'): a = a.t()
        elif n.endswith('weight_g'): a = a.reshape(-1)
        elif a.dim() == 2: a = a.t()
        out[n] = {'shape': list(a.shape), 'values': a.reshape(-1).tolist()}
    return out


def grads_export(m):
    out = {}
    for n, p in m.named_parameters():
        if p.grad is None: continue
        a = p.grad.detach().clone()
        if n.endswith('patch_embed.proj.weight'): a = a.permute(2, 3, 1, 0).reshape(P * P * 3, D)
        elif n.endswith('weight_v'): a = a.t()
        elif a.dim() == 2: a = a.t()
        out[n] = a.reshape(-1).tolist()
    return out


fixture = {'settings': dict(EPOCHS=EPOCHS, LR=LR, MIN_LR=MIN_LR, WD=WD, WD_END=WD_END, MOM=MOM, CLIP=CLIP, FREEZE=FREEZE,
                            TT_WARM=TT_WARM, TT=TT, TT_WARM_STEPS=TT_WARM_STEPS, STUDENT_T=STUDENT_T, CENTER_M=CENTER_M, B=B,
                            NLOCAL=NLOCAL),
           'init': export(student), 'steps': []}
g = torch.Generator().manual_seed(1)
for it in range(STEPS):
    crops = [torch.rand(B, 3, IMG, IMG, generator=g) for _ in range(2)] + [torch.rand(B, 3, LOCAL, LOCAL, generator=g) for _ in range(NLOCAL)]
    for i, pg in enumerate(opt.param_groups):
        pg['lr'] = lr_s[it]
        if i == 0: pg['weight_decay'] = wd_s[it]
    t_out = teacher(crops[:2]); s_out = student(crops)
    s_chunks = (s_out / STUDENT_T).chunk(2 + NLOCAL)
    q = F.softmax((t_out - center) / tt_s[it], dim=-1).detach().chunk(2)
    total, n = 0, 0
    for iq, qq in enumerate(q):
        for v in range(len(s_chunks)):
            if v == iq: continue
            total += torch.sum(-qq * F.log_softmax(s_chunks[v], dim=-1), dim=-1).mean(); n += 1
    loss = total / n
    opt.zero_grad(); loss.backward()
    raw_grads = grads_export(student)
    for nm, p in student.named_parameters():
        if p.grad is not None:
            c = CLIP / (p.grad.data.norm(2) + 1e-6)
            if c < 1: p.grad.data.mul_(c)
    if it < FREEZE:
        for nm, p in student.named_parameters():
            if 'last_layer' in nm: p.grad = None
    opt.step()
    with torch.no_grad():
        m = m_s[it]
        for pq, pk in zip(student.parameters(), teacher.parameters()): pk.data.mul_(m).add_((1 - m) * pq.detach().data)
        center = center * CENTER_M + t_out.sum(dim=0, keepdim=True) / len(t_out) * (1 - CENTER_M)
    fixture['steps'].append({
        'crops': [c.permute(0, 2, 3, 1).reshape(-1).tolist() for c in crops],
        'teacher_logits': t_out.detach().reshape(-1).tolist(),
        'student_logits': s_out.detach().reshape(-1).tolist(),
        'loss': loss.item(), 'lr': lr_s[it], 'wd': wd_s[it], 'momentum': m_s[it], 'teacher_temp': tt_s[it],
        'grads': raw_grads, 'student_after': export(student), 'teacher_after': export(teacher),
        'center_after': center.reshape(-1).tolist(),
    })
json.dump(fixture, sys.stdout)
