"""
Export a dino-stream checkpoint (ckpt-<step>.dino) as the official DINO files are laid out: the teacher backbone's
state dict (facebookresearch/dino's dino_deitsmall16_pretrain.pth: cls_token, pos_embed, patch_embed.proj.*,
blocks.N.*, norm.*; nn.Linear weights [out, in], the patch embedding a Conv2d weight [D, 3, p, p]), saved with
torch.save. With --full, a main_dino.py training checkpoint instead: student (DDP `module.` prefix) and teacher, each
with backbone. and head. (DINOHead: mlp.0/2/4, last_layer.weight_g/_v). Used to make a "pretrained" model that
`--init` can start from when the real files cannot be downloaded. Needs PyTorch (Debian's python3-torch):
    /usr/bin/python3 scripts/reference/export_dino_pth.py ckpt-200.dino out.pth [--full | --student]
(--student: the student backbone instead of the teacher's, for a run whose student is ahead.)
"""
import collections, hashlib, json, struct, sys
import numpy as np
import torch


def read_dino(path):
    buf = open(path, 'rb').read()
    if buf[:8] != b'DINOCKPT': sys.exit(f'{path}: not a dino-stream checkpoint')
    if hashlib.sha256(buf[:-32]).digest() != buf[-32:]: sys.exit(f'{path}: checksum mismatch')
    n = struct.unpack('<I', buf[12:16])[0]
    header = json.loads(buf[16:16 + n])
    start = 16 + n + (-(16 + n)) % 4
    payload = np.frombuffer(buf[start:len(buf) - 32], dtype='<f4')
    return header, {t['name']: payload[t['offset']:t['offset'] + t['size']].reshape(t['shape']) for t in header['tensors']}


def official(name, v, patch):
    """Our layout -> PyTorch's: Linear [in, out] -> [out, in]; patch [(row, col, channel), D] -> [D, 3, p, p]."""
    t = torch.tensor(np.array(v))
    if name.endswith('patch_embed.proj.weight'):
        return t.reshape(patch, patch, 3, -1).permute(3, 2, 0, 1).contiguous()
    if name.endswith('last_layer.weight_g'):
        return t.reshape(-1, 1)
    if t.dim() == 2 and (name.endswith('.weight') or name.endswith('weight_v')):
        return t.t().contiguous()
    return t


def state_dict(tensors, prefix, patch, keep_head):
    out = collections.OrderedDict()
    for name, v in tensors.items():
        if not name.startswith(prefix): continue
        rest = name[len(prefix):]
        if rest.startswith('head.') and not keep_head: continue
        if not keep_head: rest = rest[len('backbone.'):]
        out[rest] = official(rest, v, patch)
    return out


if __name__ == '__main__':
    src, dst = sys.argv[1], sys.argv[2]
    header, tensors = read_dino(src)
    patch = header['meta']['trainer']['model']['vit']['patchSize']
    if '--full' in sys.argv[3:]:
        student = state_dict(tensors, 'student.', patch, True)
        torch.save({'student': collections.OrderedDict(('module.' + k, v) for k, v in student.items()),
                    'teacher': state_dict(tensors, 'teacher.', patch, True), 'epoch': header['step']}, dst)
    else:
        who = 'student.' if '--student' in sys.argv[3:] else 'teacher.'
        torch.save(state_dict(tensors, who, patch, False), dst)
    print(f'wrote {dst} from {src} (step {header["step"]})', file=sys.stderr)
