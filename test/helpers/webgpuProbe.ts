/**
 * Child-process probe for test/helpers/webgpu.ts and the selection tests: selectBackend with the backend named by
 * the first argument ('webgpu' by default: software adapters included). Prints one JSON line:
 * {"ok":true,"name":<backend>,"adapter":...,"detail":...,"lines":[...]} or {"ok":false,"reason":...,"lines":[...]}.
 */
import { selectBackend } from '../../src/backend/selectBackend';

const lines: string[] = [];
const backend = (process.argv[2] ?? 'webgpu') as 'webgpu' | 'auto';
selectBackend({ backend, log: (m) => lines.push(m) }).then(
  (info) => {
    console.log(JSON.stringify({ ok: true, name: info.name, adapter: info.adapter, detail: info.detail, lines }));
    process.exit(0);
  },
  (e: unknown) => {
    console.log(JSON.stringify({ ok: false, reason: e instanceof Error ? e.message : String(e), lines }));
    process.exit(0);
  },
);
