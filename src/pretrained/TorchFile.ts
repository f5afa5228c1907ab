import { unzipSync } from 'fflate';
import { PyDict, PyGlobal, PyObject, PyTuple, UnpicklingError, unpickle, type PyValue, type UnpicklerHooks } from './Unpickler';
import { DTYPE_BYTES, TensorData, numel, type WeightDtype } from './TensorData';

/**
 * torch.save files (.pth, .pt) read as data: the zip format (PyTorch >= 1.6: `<name>/data.pkl` plus one stored
 * entry per storage, `<name>/data/<key>`) and the legacy format (consecutive pickles, then each storage as an int64
 * element count and its bytes). The pickle goes through the restricted Unpickler with only what state dicts and
 * DINO's full checkpoints use allowed.
 */

/** A storage a tensor views: its element type and raw little-endian bytes. */
interface Storage {
  readonly kind: 'storage';
  dtype: WeightDtype | string;
  /** Bytes per element. */
  es: number;
  bytes: Uint8Array;
  numel: number;
}

/** A tensor of the file; `data()` checks its view against the storage and copies nothing it does not need. */
export class TorchTensor {
  readonly kind = 'tensor';
  constructor(
    private readonly storage: Storage,
    private readonly offset: number,
    readonly shape: number[],
    private readonly stride: number[],
  ) {}

  get dtype(): string {
    return this.storage.dtype;
  }

  data(name: string): TensorData {
    const s = this.storage;
    if (!(s.dtype in DTYPE_BYTES)) throw new Error(`tensor "${name}" has element type ${s.dtype}; weights must be float32, float16, bfloat16 or float64`);
    const dtype = s.dtype as WeightDtype;
    const es = DTYPE_BYTES[dtype];
    const n = numel(this.shape);
    if (n === 0) return new TensorData(dtype, this.shape, new Uint8Array(0));
    // the last element a view reaches must lie inside its storage
    const last = this.offset + this.shape.reduce((m, d, i) => m + (d - 1) * this.stride[i]!, 0);
    if (this.offset < 0 || last >= s.numel || this.stride.some((x) => x < 0) || n > s.numel) {
      throw new Error(`tensor "${name}" of shape [${this.shape}] reaches beyond its storage of ${s.numel} elements`);
    }
    const contiguous = this.stride.every((st, i) => st === numel(this.shape.slice(i + 1)) || this.shape[i] === 1);
    if (contiguous) return new TensorData(dtype, this.shape, s.bytes.subarray(this.offset * es, (this.offset + n) * es));
    const out = new Uint8Array(n * es);
    const idx = new Array<number>(this.shape.length).fill(0);
    for (let k = 0; k < n; k++) {
      const src = this.offset + idx.reduce((m, v, i) => m + v * this.stride[i]!, 0);
      out.set(s.bytes.subarray(src * es, (src + 1) * es), k * es);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d]! < this.shape[d]!) break;
        idx[d] = 0;
      }
    }
    return new TensorData(dtype, this.shape, out);
  }
}

const STORAGE_TYPES: Record<string, { dtype: WeightDtype | string; bytes: number }> = {
  FloatStorage: { dtype: 'F32', bytes: 4 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  DoubleStorage: { dtype: 'F64', bytes: 8 },
  // integer and boolean tensors occur in full checkpoints (optimiser steps); read only if a weight needs them
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

const int = (v: PyValue | undefined, what: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UnpicklingError(`${what} is not a non-negative integer`);
  return v;
};
const ints = (v: PyValue | undefined, what: string): number[] => {
  if (!(v instanceof PyTuple)) throw new UnpicklingError(`${what} is not a tuple`);
  return v.items.map((x, i) => int(x, `${what}[${i}]`));
};

function rebuildTensor(args: PyValue[]): TorchTensor {
  const [storage, offset, size, stride] = args;
  if (!(typeof storage === 'object' && storage !== null && (storage as Storage).kind === 'storage')) {
    throw new UnpicklingError('_rebuild_tensor_v2 without a storage');
  }
  const shape = ints(size, 'tensor size');
  const strides = ints(stride, 'tensor stride');
  if (shape.length !== strides.length) throw new UnpicklingError('tensor size and stride differ in length');
  return new TorchTensor(storage as Storage, int(offset, 'storage offset'), shape, strides);
}

/** Numpy scalars (DINO's full checkpoints may keep some in `args`): only the plain numeric dtypes. */
const NUMPY_SCALARS: Record<string, (v: DataView) => number | boolean> = {
  f8: (v) => v.getFloat64(0, true),
  f4: (v) => v.getFloat32(0, true),
  i8: (v) => Number(v.getBigInt64(0, true)),
  i4: (v) => v.getInt32(0, true),
  u1: (v) => v.getUint8(0),
  b1: (v) => v.getUint8(0) !== 0,
};

function numpyScalar(args: PyValue[]): PyValue {
  const [dtype, data] = args;
  const descr = dtype instanceof PyObject ? dtype.attrs.get('descr') : undefined;
  const read = typeof descr === 'string' ? NUMPY_SCALARS[descr] : undefined;
  if (!read || !(data instanceof Uint8Array) || data.length < Number(String(descr).slice(1))) {
    throw new UnpicklingError(`refused: a numpy scalar of dtype ${String(descr)} (only ${Object.keys(NUMPY_SCALARS).join(', ')} are read)`);
  }
  return read(new DataView(data.buffer, data.byteOffset, data.byteLength));
}

/** The allow-list: what torch.save writes for state dicts and DINO's full checkpoints (args, epoch, optimiser). */
function hooks(loadStorage: (key: string, type: { dtype: WeightDtype | string; bytes: number }, numel: number, rest: PyValue[]) => Storage): UnpicklerHooks {
  const dict = () => new PyDict();
  return {
    callables: {
      'collections.OrderedDict': dict,
      'torch._utils._rebuild_tensor_v2': rebuildTensor,
      'torch._utils._rebuild_parameter': (a) => {
        if (!(a[0] instanceof TorchTensor)) throw new UnpicklingError('_rebuild_parameter without a tensor');
        return a[0];
      },
      'argparse.Namespace': () => new PyObject('argparse.Namespace'),
      'numpy.dtype': (a) => {
        const d = new PyObject('numpy.dtype');
        d.attrs.set('descr', a[0] ?? null);
        return d;
      },
      'numpy.core.multiarray.scalar': numpyScalar,
      'numpy._core.multiarray.scalar': numpyScalar,
      // protocol 2 writes Python 3 bytes as _codecs.encode(text, 'latin1')
      '_codecs.encode': (a) => {
        if (typeof a[0] !== 'string' || a[1] !== 'latin1') throw new UnpicklingError("refused: _codecs.encode other than (str, 'latin1')");
        return Uint8Array.from(a[0], (c) => c.charCodeAt(0) & 0xff);
      },
    },
    values: new Set(Object.keys(STORAGE_TYPES).map((t) => `torch.${t}`)),
    persistentLoad: (pid) => {
      if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length < 5) {
        throw new UnpicklingError('refused: a persistent id that is not a tensor storage');
      }
      const [, type, key, , count, ...rest] = pid.items;
      if (!(type instanceof PyGlobal) || !(type.name in STORAGE_TYPES)) throw new UnpicklingError('storage of an unknown type');
      if (typeof key !== 'string') throw new UnpicklingError('storage key is not a string');
      return loadStorage(key, STORAGE_TYPES[type.name]!, int(count, 'storage size'), rest);
    },
  };
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** Parse a torch.save file: the unpickled object, with TorchTensor leaves. */
export function readTorchFile(buf: Uint8Array): PyValue {
  if (ZIP_MAGIC.every((b, i) => buf[i] === b)) return readZip(buf);
  if (buf[0] === 0x80) return readLegacy(buf);
  throw new Error('not a PyTorch file (neither a zip archive nor a legacy pickle)');
}

function readZip(buf: Uint8Array): PyValue {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(buf, {
      filter: (f) => {
        // torch stores its entries uncompressed; inflating would allocate what the header claims, not what the file holds
        if (f.compression !== 0) throw new Error(`zip entry ${f.name} is compressed (method ${f.compression}); torch.save never compresses`);
        return true;
      },
    });
  } catch (e) {
    throw new Error(`not a readable PyTorch zip archive: ${(e as Error).message}`);
  }
  const pkls = Object.keys(entries).filter((n) => n.endsWith('data.pkl') && n.split('/').length === 2);
  if (pkls.length !== 1) throw new Error(`not a PyTorch zip archive: expected one <name>/data.pkl, found ${pkls.length}`);
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  const order = entries[`${prefix}byteorder`];
  if (order && new TextDecoder().decode(order) !== 'little') throw new Error('big-endian PyTorch files are not supported');
  const storages = new Map<string, Storage>();
  const h = hooks((key, type, count) => {
    const cached = storages.get(key);
    if (cached) return cached;
    const bytes = entries[`${prefix}data/${key}`];
    if (!bytes) throw new Error(`storage ${key} is missing from the archive`);
    if (bytes.length !== count * type.bytes) throw new Error(`storage ${key} has ${bytes.length} bytes, its tensor header says ${count * type.bytes}`);
    const s: Storage = { kind: 'storage', dtype: type.dtype, es: type.bytes, bytes, numel: count };
    storages.set(key, s);
    return s;
  });
  return unpickle(entries[pkls[0]!]!, h).value;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Legacy torch.save (_use_new_zipfile_serialization=False): magic, protocol, sys info, object, storage keys, storages. */
function readLegacy(buf: Uint8Array): PyValue {
  const none: UnpicklerHooks = { callables: {} };
  const magic = unpickle(buf, none);
  if (magic.value !== LEGACY_MAGIC) throw new Error('not a PyTorch file (a pickle without torch.save magic number)');
  const proto = unpickle(buf, none, magic.end);
  if (proto.value !== 1001) throw new Error(`legacy PyTorch protocol ${String(proto.value)} is not supported`);
  const info = unpickle(buf, none, proto.end);
  if (info.value instanceof PyDict && info.value.get('little_endian') === false) throw new Error('big-endian PyTorch files are not supported');
  // storages are read after the object: first collect what the pickle asks for, then resolve
  const wanted = new Map<string, Storage>();
  const views: { storage: Storage; root: string; offset: number }[] = [];
  const h = hooks((key, type, count, rest) => {
    let root = wanted.get(key);
    if (!root) {
      root = { kind: 'storage', dtype: type.dtype, es: type.bytes, bytes: new Uint8Array(0), numel: count };
      wanted.set(key, root);
    }
    const view = rest[1];
    if (view instanceof PyTuple) {
      const [, offset, size] = view.items;
      const s: Storage = { kind: 'storage', dtype: type.dtype, es: type.bytes, bytes: new Uint8Array(0), numel: int(size, 'view size') };
      views.push({ storage: s, root: key, offset: int(offset, 'view offset') });
      return s;
    }
    return root;
  });
  const obj = unpickle(buf, h, info.end);
  const keys = unpickle(buf, none, obj.end);
  if (!Array.isArray(keys.value)) throw new Error('legacy PyTorch file: storage key list missing');
  let pos = keys.end;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const filled = new Set<string>();
  for (const k of keys.value) {
    const key = String(k);
    const s = wanted.get(key);
    if (pos + 8 > buf.length) throw new Error('legacy PyTorch file truncated in its storages');
    const count = view.getBigInt64(pos, true);
    pos += 8;
    if (!s || count !== BigInt(s.numel) || pos + s.numel * s.es > buf.length) throw new Error(`legacy PyTorch file: storage ${key} does not match its header`);
    s.bytes = buf.subarray(pos, pos + s.numel * s.es);
    pos += s.numel * s.es;
    filled.add(key);
  }
  for (const key of wanted.keys()) if (!filled.has(key)) throw new Error(`legacy PyTorch file: storage ${key} is missing`);
  for (const v of views) {
    const root = wanted.get(v.root)!;
    if (v.offset + v.storage.numel > root.numel) throw new Error(`legacy PyTorch file: a storage view reaches beyond storage ${v.root}`);
    v.storage.bytes = root.bytes.subarray(v.offset * root.es, (v.offset + v.storage.numel) * root.es);
  }
  return obj.value;
}
