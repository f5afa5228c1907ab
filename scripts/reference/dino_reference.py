"""
Reference fixture for the engine tests, computed with PyTorch (Debian python3-torch) by a faithful re-statement of
facebookresearch/dino (vision_transformer.py, DINOHead, MultiCropWrapper, DINOLoss, utils.clip_gradients,
utils.cancel_gradients_last_layer, utils.cosine_scheduler, the param groups and the EMA of main_dino.py).
It is a test tool, not part of the product: run it by hand to regenerate test/fixtures/dino_reference.json
    /usr/bin/python3 scripts/reference/dino_reference.py > test/fixtures/dino_reference.json
Weights are exported in the engine's layout (Linear [in, out]; patch conv as [(row, col, channel), D]).
"""
import json, sys
import numpy as np
import torch, torch.nn.functional as F
import dino_models as dm

torch.manual_seed(0)
P, IMG, LOCAL, D, DEPTH, H, HID, BOT, OUT, NLOCAL, B = 4, 16, 8, 16, 2, 2, 32, 16, 64, 2, 2


def MultiCropWrapper():
    return dm.MultiCropWrapper(dm.VisionTransformer(P, D, DEPTH, H, IMG), dm.DINOHead(D, HID, BOT, OUT))


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
