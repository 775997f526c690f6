// The runtime check: open a device, show what the adapter gave us, and run a smoke kernel (a broadcasting
// add compared with the CPU).
import { add, createDevice, FlapError } from '../src/index';

const status = document.getElementById('status')!;
const table = document.getElementById('info') as HTMLTableElement;

function row(name: string, value: string) {
  const tr = table.insertRow();
  tr.insertCell().textContent = name;
  tr.insertCell().textContent = value;
}

async function main() {
  const device = await createDevice();
  const { info } = device;
  row('adapter', [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / '));
  row('CPU-backed', String(info.isCpuBacked));
  row('features', Object.entries(info.features).map(([k, v]) => `${k}: ${v ? 'yes' : 'no'}`).join(', '));
  for (const [k, v] of Object.entries(info.limits)) row(k, v.toLocaleString('en'));

  const n = 1 << 16;
  const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: 256 }, (_, i) => i / 256);
  const t0 = performance.now();
  const sum = device.scope(() => add(device.tensor([n / 256, 256], 'f32', a), device.tensor([256], 'f32', b)));
  const got = await sum.read();
  const ms = performance.now() - t0;
  sum.release();
  let maxErr = 0;
  for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - Math.fround(a[i]! + b[i % 256]!)));
  const ok = maxErr === 0;
  status.innerHTML = `<span class="${ok ? 'ok' : 'bad'}">Smoke kernel ${ok ? 'passed' : 'FAILED'}</span>: broadcasting add of ${n.toLocaleString('en')} elements in ${ms.toFixed(1)} ms, max error ${maxErr}.`;
  document.body.dataset.smoke = ok ? 'passed' : 'failed';
}

main().catch((e: unknown) => {
  const err = e as Error;
  status.innerHTML = `<span class="bad">${err instanceof FlapError ? err.code : err.name}: ${err.message}</span>`;
  document.body.dataset.smoke = 'error';
});
