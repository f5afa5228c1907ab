/**
 * A restricted unpickler: the subset of Python's pickle that torch.save writes for a state dict, interpreted as
 * data. Nothing in the file is ever executed: a GLOBAL names a Python callable, and only the names in the caller's
 * allow-list are accepted, each mapped to a TypeScript function that builds an inert value. Any other global,
 * persistent id or opcode is refused with an error naming it. Every read is bounds-checked against the buffer,
 * so a hostile pickle cannot make us allocate more than its own size.
 */

/** A Python tuple (kept apart from lists, which are plain arrays). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict or OrderedDict; `attrs` keeps what a BUILD set on it (a state dict's `_metadata`). */
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  attrs: PyValue = null;
  get(key: PyKey): PyValue | undefined {
    return this.map.get(key);
  }
}

/** An allow-listed Python object built from its state (argparse.Namespace, a numpy dtype). */
export class PyObject {
  readonly attrs = new Map<string, PyValue>();
  constructor(readonly className: string) {}
}

/** A global the pickle named, not yet called. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

export type PyKey = string | number | bigint | boolean | null;
export type PyValue = PyKey | Uint8Array | PyValue[] | PyTuple | PyDict | PyObject | PyGlobal | { readonly kind: string };

/** How the caller lets a pickle use globals and persistent ids. */
export interface UnpicklerHooks {
  /** module.name -> what calling it (REDUCE / NEWOBJ with these arguments) returns. */
  callables: Record<string, (args: PyValue[]) => PyValue>;
  /** Globals that may appear as plain values (a storage type inside a persistent id). */
  values?: ReadonlySet<string>;
  /** BINPERSID: the value a persistent id stands for (torch: a storage). */
  persistentLoad?: (pid: PyValue) => PyValue;
}

export class UnpicklingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnpicklingError';
  }
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

/** Opcode names, for the message that refuses one. */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** Reads one pickle from `buf` at `start`; returns the value and the offset just past its STOP. */
export function unpickle(buf: Uint8Array, hooks: UnpicklerHooks, start = 0): { value: PyValue; end: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: Slot[] = [];
  const memo = new Map<number, PyValue>();
  let pos = start;

  const need = (n: number, what: string) => {
    if (!(n >= 0) || pos + n > buf.length) throw new UnpicklingError(`truncated pickle: ${what} at byte ${pos} needs ${n} bytes`);
  };
  const u8 = () => (need(1, 'a byte'), buf[pos++]!);
  const u16 = () => (need(2, 'a uint16'), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4, 'a uint32'), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8, 'a uint64');
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(buf.length)) throw new UnpicklingError(`length ${v} at byte ${pos - 8} exceeds the file`);
    return Number(v);
  };
  const bytes = (n: number) => (need(n, 'a byte string'), buf.subarray((pos += n) - n, pos));
  const text = (n: number) => {
    const b = bytes(n);
    try {
      return utf8.decode(b);
    } catch {
      throw new UnpicklingError(`invalid UTF-8 string at byte ${pos - n}`);
    }
  };
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw new UnpicklingError(`truncated pickle: unterminated line at byte ${pos}`);
    const s = new TextDecoder('latin1').decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new UnpicklingError(`malformed pickle: empty stack or mark at byte ${pos - 1}`);
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new UnpicklingError(`malformed pickle: empty stack at byte ${pos - 1}`);
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new UnpicklingError(`malformed pickle: no mark at byte ${pos - 1}`);
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw new UnpicklingError(`malformed pickle: memo ${i} unset at byte ${pos}`);
    return memo.get(i)!;
  };
  const global = (module: string, name: string): PyGlobal => {
    const g = new PyGlobal(module, name);
    if (!(g.qualified in hooks.callables) && !hooks.values?.has(g.qualified)) {
      throw new UnpicklingError(`refused: the pickle names the global ${g.qualified}, which a state dict does not use (nothing was executed)`);
    }
    return g;
  };
  const call = (fn: PyValue, args: PyValue, op: string): PyValue => {
    if (!(fn instanceof PyGlobal) || !(fn.qualified in hooks.callables)) {
      throw new UnpicklingError(`refused: ${op} on ${fn instanceof PyGlobal ? fn.qualified : typeof fn}, not an allowed constructor`);
    }
    if (!(args instanceof PyTuple)) throw new UnpicklingError(`malformed pickle: ${op} arguments are not a tuple`);
    return hooks.callables[fn.qualified]!(args.items);
  };
  const setItems = (target: PyValue, kv: PyValue[]) => {
    if (!(target instanceof PyDict)) throw new UnpicklingError(`malformed pickle: SETITEM(S) on a non-dict at byte ${pos - 1}`);
    if (kv.length % 2 !== 0) throw new UnpicklingError('malformed pickle: odd number of SETITEMS values');
    for (let i = 0; i < kv.length; i += 2) target.map.set(asKey(kv[i]!), kv[i + 1]!);
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME: a length hint only
      case 0x2e: return { value: pop(), end: pos }; // STOP
      case 0x28: stack.push(MARK); break;
      case 0x30: pop(); break;
      case 0x31: popMark(); break;
      case 0x32: stack.push(top()); break;
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4b: stack.push(u8()); break;
      case 0x4d: stack.push(u16()); break;
      case 0x4a: need(4, 'an int32'); stack.push(view.getInt32(pos, true)); pos += 4; break;
      case 0x8a: stack.push(long(bytes(u8()))); break;
      case 0x8b: { need(4, 'a length'); const n = view.getInt32(pos, true); pos += 4; stack.push(long(bytes(n))); break; }
      case 0x47: need(8, 'a float64'); stack.push(view.getFloat64(pos, false)); pos += 8; break;
      case 0x58: stack.push(text(u32())); break;
      case 0x8c: stack.push(text(u8())); break;
      case 0x8d: stack.push(text(u64())); break;
      case 0x43: stack.push(bytes(u8()).slice()); break;
      case 0x42: stack.push(bytes(u32()).slice()); break;
      case 0x8e: stack.push(bytes(u64()).slice()); break;
      case 0x7d: stack.push(new PyDict()); break;
      case 0x5d: stack.push([]); break;
      case 0x29: stack.push(new PyTuple([])); break;
      case 0x74: stack.push(new PyTuple(popMark())); break;
      case 0x85: stack.push(new PyTuple([pop()])); break;
      case 0x86: { const b = pop(); stack.push(new PyTuple([pop(), b])); break; }
      case 0x87: { const c = pop(); const b = pop(); stack.push(new PyTuple([pop(), b, c])); break; }
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { const d = new PyDict(); setItems(d, popMark()); stack.push(d); break; } // DICT
      case 0x61: { const v = pop(); asList(top()).push(v); break; }
      case 0x65: { const vs = popMark(); asList(top()).push(...vs); break; }
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; }
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; }
      case 0x71: memo.set(u8(), top()); break;
      case 0x72: memo.set(u32(), top()); break;
      case 0x94: memo.set(memo.size, top()); break;
      case 0x68: stack.push(memoGet(u8())); break;
      case 0x6a: stack.push(memoGet(u32())); break;
      case 0x63: { const module = line(); stack.push(global(module, line())); break; }
      case 0x93: { const name = pop(); const module = pop(); if (typeof module !== 'string' || typeof name !== 'string') throw new UnpicklingError('malformed STACK_GLOBAL'); stack.push(global(module, name)); break; }
      case 0x52: { const args = pop(); stack.push(call(pop(), args, 'REDUCE')); break; }
      case 0x81: { const args = pop(); stack.push(call(pop(), args, 'NEWOBJ')); break; }
      case 0x62: { const state = pop(); build(top(), state); break; }
      case 0x51: {
        const pid = pop();
        if (!hooks.persistentLoad) throw new UnpicklingError('refused: a persistent id where none is expected');
        stack.push(hooks.persistentLoad(pid));
        break;
      }
      default:
        throw new UnpicklingError(`refused: pickle opcode ${OPCODE_NAMES[op] ?? 'unknown'} (0x${op.toString(16).padStart(2, '0')}) at byte ${at} is not one a state dict uses`);
    }
  }
}

function asList(v: PyValue): PyValue[] {
  if (!Array.isArray(v)) throw new UnpicklingError('malformed pickle: APPEND(S) on a non-list');
  return v;
}

function asKey(v: PyValue): PyKey {
  if (v === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof v)) return v as PyKey;
  throw new UnpicklingError('unsupported dict key (only strings, numbers, booleans and None are read)');
}

/** BUILD: object state. Dicts keep it aside (a state dict's _metadata); allow-listed objects take it as attributes. */
function build(target: PyValue, state: PyValue): void {
  if (target instanceof PyDict) {
    target.attrs = state;
  } else if (target instanceof PyObject) {
    if (state instanceof PyDict) for (const [k, v] of state.map) target.attrs.set(String(k), v);
    else target.attrs.set('__state__', state);
  } else {
    throw new UnpicklingError('refused: BUILD on a value that is not an allowed object');
  }
}
