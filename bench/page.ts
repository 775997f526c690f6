// The benchmark page (bench/index.html): a visitor picks a suite, runs it on their own GPU beside ONNX Runtime Web
// and TF.js, sees the table and a chart, and copies the rows as JSON in the format of bench/results/. bench/run.mjs
// drives the same page through window.__runBench(suite, options) and writes what it returns. Everything the page
// fetches is relative to it: vendor/ (the peers' builds), onnx/kernels/ and onnx/models/mini/ (the ONNX graphs and
// the step's weights, made by bench/prepare.mjs; a page without them times this runtime alone and says so).
import { benchKernels, kernelTable, type KernelPeer, type KernelPeers, type KernelRow, type ManifestEntry } from './kernels';
import { benchUnet, unetTable, type ModelManifest, type UnetFiles, type UnetPeer, type UnetRow } from './unet';
import { kernelCases, OP_KEYS, SHAPE_SETS } from './shapes';
import { loadPeers, type Peers } from './peers';
import { kernelChart, unetChart } from './chart';
import { formatCell, type Progress, type Table } from './stats';

type Suite = 'kernels' | 'unet';

/** What __runBench takes (bench/run.mjs passes reps, sets and ops). */
interface RunOptions {
  reps: number;
  sets?: string[];
  ops?: string[];
  /** Peers to time beside ours: 'ort' and 'tfjs' (kernels), 'ort-webgpu' and 'ort-wasm' (unet); default all. */
  peers?: string[];
}

interface Result {
  rows: KernelRow[] | UnetRow[];
  markdown: string;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const here = new URL('.', document.baseURI);
const checked = (name: string) => [...document.querySelectorAll<HTMLInputElement>(`input[name="${name}"]:checked`)].map((e) => e.value);

// ---------------------------------------------------------------- what the page finds

/** A JSON file beside the page, or why it is not there. */
async function fetchJson<T>(path: string, how: string): Promise<{ value: T; url: URL } | { missing: string }> {
  const url = new URL(path, here);
  const missing = `${path} is not in this build (${how}, then rebuild the site)`;
  try {
    const res = await fetch(url);
    if (!res.ok) return { missing };
    return { value: (await res.json()) as T, url };
  } catch {
    return { missing };
  }
}

async function exists(path: string): Promise<boolean> {
  const res = await fetch(new URL(path, here), { method: 'HEAD' }).catch(() => undefined);
  return !!res?.ok && !(res.headers.get('content-type') ?? '').startsWith('text/html');
}

interface Environment {
  adapter: string | undefined;
  peers: Peers;
  kernelGraphs: KernelPeers['graphs'];
  unetFiles: UnetFiles;
}

async function findEnvironment(): Promise<Environment> {
  let adapter: string | undefined;
  const gpuAdapter = await navigator.gpu?.requestAdapter().catch(() => null);
  if (gpuAdapter) {
    const info = gpuAdapter.info;
    adapter = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'unnamed adapter';
  }
  const [peers, kernels, unetManifest, unetWeights] = await Promise.all([
    loadPeers(new URL('vendor/', here)),
    fetchJson<{ ops: ManifestEntry[] }>('onnx/kernels/manifest.json', 'node bench/prepare.mjs kernels, with Python and torch'),
    fetchJson<ModelManifest>('onnx/models/mini/manifest.json', 'node bench/prepare.mjs unet, with Python and torch'),
    exists('onnx/models/mini/weights.safetensors'),
  ]);
  return {
    adapter,
    peers,
    kernelGraphs: 'missing' in kernels ? kernels : { entries: kernels.value.ops, url: new URL('.', kernels.url) },
    unetFiles: { dir: new URL('onnx/models/mini/', here), manifest: 'missing' in unetManifest ? unetManifest : unetManifest.value, weights: unetWeights },
  };
}

function browserName(): string {
  const brands = (navigator as Navigator & { userAgentData?: { brands: { brand: string; version: string }[] } }).userAgentData?.brands;
  const named = brands?.filter((b) => !/not.?a.?brand/i.test(b.brand));
  return named?.length ? named.map((b) => `${b.brand} ${b.version}`).join(', ') : navigator.userAgent;
}

function showEnvironment(env: Environment): void {
  const set = (id: string, text: string, ok?: boolean) => {
    const el = $(id);
    el.textContent = text;
    el.className = ok === undefined ? '' : ok ? 'ok' : 'warn';
  };
  set('env-adapter', env.adapter ?? 'none: this browser has no WebGPU (try a recent Chrome, Edge or Safari)', !!env.adapter);
  set('env-browser', browserName());
  const { ort, tf, problems } = env.peers;
  const versions = [ort && `ONNX Runtime Web ${ort.env.versions?.web ?? ''}`.trim(), tf && `TF.js ${tf.version_core ?? ''}`.trim()].filter(Boolean);
  set('env-peers', [versions.join(', '), ...problems].filter(Boolean).join('; '), problems.length === 0);
  set('env-threads', `${env.peers.ortThreads} (${self.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated: the host sends no COOP/COEP headers, so WASM runs single-threaded'})`, self.crossOriginIsolated);
  const g = env.kernelGraphs;
  if ('missing' in g) set('env-kernel-graphs', `${g.missing}; ONNX Runtime is not timed on kernels`, false);
  else {
    const files = new Set(g.entries.map((e) => e.file));
    const all = kernelCases();
    const covered = all.filter((c) => files.has(c.file)).length;
    set('env-kernel-graphs', `${g.entries.length} graph${g.entries.length === 1 ? '' : 's'} (${covered === all.length ? 'every case' : `${covered} of the ${all.length} cases`})`, covered === all.length);
  }
  const u = env.unetFiles;
  const step = 'missing' in u.manifest ? undefined : u.manifest.models.find((m) => m.part === 'unet_step');
  set(
    'env-unet-files',
    [
      'missing' in u.manifest ? `${u.manifest.missing}; ONNX Runtime is not timed on the step` : step ? step.file : 'the manifest lists no unet_step',
      u.weights ? 'shared weights.safetensors' : 'no weights.safetensors: ours runs on random weights made here',
    ].join('; '),
    !!step && u.weights,
  );
}

// ---------------------------------------------------------------- the form

function checkbox(name: string, value: string, text: string, on = true): HTMLLabelElement {
  const label = document.createElement('label');
  const input = document.createElement('input');
  input.type = 'checkbox';
  input.name = name;
  input.value = value;
  input.checked = on;
  label.append(input, ` ${text}`);
  return label;
}

/** A peer that cannot run here: greyed out with the reason, but still asked for, so each row records why it has no figure. */
function disablePeer(name: string, value: string, why: string, short: string): void {
  const input = document.querySelector<HTMLInputElement>(`input[name="${name}"][value="${value}"]`)!;
  if (input.disabled) return;
  input.disabled = true;
  input.parentElement!.classList.add('off');
  input.parentElement!.title = why;
  input.parentElement!.append(` (${short})`);
}

function suite(): Suite {
  return checked('suite')[0] === 'unet' ? 'unet' : 'kernels';
}

function formOptions(): RunOptions {
  const reps = Math.max(1, Math.min(50, Math.round(Number(($('reps') as HTMLInputElement).value) || 1)));
  if (suite() === 'unet') return { reps, peers: checked('unet-peer') };
  return { reps, sets: checked('set'), ops: checked('op'), peers: checked('kernel-peer') };
}

function buildForm(env: Environment): void {
  const params = new URLSearchParams(location.search);
  const listed = (key: string) => params.get(key)?.split(',');
  const sets = listed('sets'), ops = listed('ops');
  for (const name of Object.keys(SHAPE_SETS)) $('sets').append(checkbox('set', name, `${name} (${kernelCases([name]).length})`, !sets || sets.includes(name)));
  for (const op of Object.keys(OP_KEYS)) $('ops').append(checkbox('op', op, op, !ops || ops.includes(op)));
  if (params.get('suite') === 'unet') document.querySelector<HTMLInputElement>('input[name="suite"][value="unet"]')!.checked = true;
  if (params.get('reps')) ($('reps') as HTMLInputElement).value = params.get('reps')!;

  const { ort, tf } = env.peers;
  if (!ort) for (const [n, v] of [['kernel-peer', 'ort'], ['unet-peer', 'ort-webgpu'], ['unet-peer', 'ort-wasm']] as const) disablePeer(n, v, 'ONNX Runtime Web did not load', 'did not load');
  if (!tf) disablePeer('kernel-peer', 'tfjs', 'TensorFlow.js did not load', 'did not load');
  if ('missing' in env.kernelGraphs) disablePeer('kernel-peer', 'ort', env.kernelGraphs.missing, 'no graphs in this build');
  const unetMissing = 'missing' in env.unetFiles.manifest ? env.unetFiles.manifest.missing : undefined;
  if (unetMissing) for (const v of ['ort-webgpu', 'ort-wasm']) disablePeer('unet-peer', v, unetMissing, 'no export in this build');
  if (ort) $('unet-peers').querySelector('[value="ort-wasm"]')!.parentElement!.append(` (${env.peers.ortThreads} thread${env.peers.ortThreads > 1 ? 's' : ''})`);

  const update = () => {
    const s = suite();
    $('kernel-options').hidden = s !== 'kernels';
    $('unet-options').hidden = s !== 'unet';
    const o = formOptions();
    const n = s === 'kernels' ? kernelCases(o.sets, o.ops).length : 1;
    $('case-count').textContent = s === 'kernels' ? `${n} case${n === 1 ? '' : 's'}` : 'one step of mini (8 + 2 frames, guidance batch 2)';
    ($('run') as HTMLButtonElement).disabled = !env.adapter || n === 0 || running !== undefined;
  };
  $('controls').addEventListener('change', update);
  $('reps').addEventListener('input', update);
  update();
  $('run').addEventListener('click', () => void run(suite(), formOptions()).catch(() => undefined));
  $('stop').addEventListener('click', () => {
    running?.abort();
    $('progress-label').textContent = 'stopping after the current measurement…';
  });
}

// ---------------------------------------------------------------- results

function renderTable(table: Table): void {
  const el = $<HTMLTableElement>('table');
  el.replaceChildren();
  const head = el.createTHead().insertRow();
  for (const c of table.columns) head.append(Object.assign(document.createElement('th'), { textContent: c }));
  const body = el.createTBody();
  for (const row of table.rows) {
    const tr = body.insertRow();
    for (const v of row) {
      const td = tr.insertCell();
      td.textContent = formatCell(v);
      if (typeof v === 'number' || v == null) td.className = 'num';
    }
  }
}

function renderNotes(notes: string[]): void {
  $('notes').replaceChildren(...notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
}

/** The rows' errors, each text once with the cases it concerns, leaving out what a suite-wide note already says. */
function rowNotes(rows: readonly (KernelRow | UnetRow)[], notes: readonly string[] = []): string[] {
  const cases = new Map<string, string[]>();
  for (const r of rows) {
    for (const e of r.errors ?? []) {
      if (notes.some((n) => n.includes(e.replace(/^[\w ]+: /, '')))) continue;
      cases.set(e, [...(cases.get(e) ?? []), 'op' in r ? `${r.set} ${r.op} ${Object.values(r.shape).join('x')}` : '']);
    }
  }
  return [...cases].map(([e, names]) => (names.length > 1 && names.length === rows.length ? `${e} (every case)` : `${names.filter(Boolean).join(', ')}${names[0] ? ': ' : ''}${e}`));
}

/** The rows as bench/run.mjs writes bench/results/<suite>.json. */
const resultJson = (rows: readonly unknown[]) => JSON.stringify(rows, null, 1) + '\n';

let shown: { suite: Suite; result: Result } | undefined;

const TABLE_KEYS: Record<Suite, string> = {
  kernels: 'ms: median per run (op + output readback). GFLOP/s (GB/s for the norms) and "of ceiling" are ours against this adapter\'s FMA and copy ceilings. Ratio: the faster peer\'s ms ÷ ours (above 1: flap-webgpu is faster).',
  unet: 'ms per step: ours is the generation loop\'s whole step (both guidance halves, guide encoder, sampler update); ONNX Runtime runs the reference\'s exported step for both halves. Ratio: their ms ÷ ours.',
};

function showKernelRows(rows: KernelRow[], adapter: string): void {
  $('results').hidden = false;
  $('results-title').textContent = 'Kernels';
  $('table-key').textContent = TABLE_KEYS.kernels;
  renderTable(kernelTable(rows));
  renderNotes(rowNotes(rows));
  $('chart').innerHTML = kernelChart(rows, adapter);
}

function showResult(s: Suite, result: Result, meta: string): void {
  shown = { suite: s, result };
  $('results').hidden = false;
  $('results-title').textContent = s === 'kernels' ? 'Kernels' : 'mini UNet step';
  $('results-meta').textContent = meta;
  $('table-key').textContent = TABLE_KEYS[s];
  const notes = result.markdown.split('\n').filter((l) => l.startsWith('- ') || l.startsWith('Errors: ')).map((l) => l.replace(/^- /, ''));
  if (s === 'kernels') {
    const rows = result.rows as KernelRow[];
    renderTable(kernelTable(rows));
    renderNotes([...notes, ...rowNotes(rows, notes)]);
    $('chart').innerHTML = rows.length ? kernelChart(rows, rows[0]!.adapter) : '';
  } else {
    const row = (result.rows as UnetRow[])[0]!;
    renderTable(unetTable(row));
    renderNotes(notes);
    $('chart').innerHTML = unetChart(row);
  }
  ($('json') as HTMLTextAreaElement).value = resultJson(result.rows);
  $('copy-status').textContent = '';
}

async function copy(text: string, what: string): Promise<void> {
  const status = $('copy-status');
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = `${what} copied`;
  } catch {
    const area = $('json') as HTMLTextAreaElement;
    (area.closest('details') as HTMLDetailsElement).open = true;
    area.value = text;
    area.select();
    status.textContent = document.execCommand('copy') ? `${what} copied` : `the clipboard is not available here: select the text below and copy it`;
  }
}

function wireResultButtons(): void {
  $('copy-json').addEventListener('click', () => shown && void copy(resultJson(shown.result.rows), 'JSON'));
  $('copy-markdown').addEventListener('click', () => shown && void copy(shown.result.markdown, 'markdown'));
  $('download-json').addEventListener('click', () => {
    if (!shown) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([resultJson(shown.result.rows)], { type: 'application/json' }));
    a.download = `${shown.suite}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
}

// ---------------------------------------------------------------- running

let env: Environment | undefined;
let running: AbortController | undefined;

function setRunning(on: boolean): void {
  for (const el of $('controls').querySelectorAll<HTMLInputElement>('input')) el.disabled = on || el.closest('label')?.classList.contains('off') === true;
  ($('run') as HTMLButtonElement).disabled = on;
  $('stop').hidden = !on;
  $('progress').hidden = !on;
  for (const id of ['copy-json', 'download-json', 'copy-markdown']) ($(id) as HTMLButtonElement).disabled = on;
}

async function run(s: Suite, options: RunOptions): Promise<Result> {
  if (!env) throw new Error('the page is still loading');
  if (running) throw new Error('a run is in progress');
  const controller = new AbortController();
  running = controller;
  setRunning(true);
  shown = undefined;
  $('results').hidden = true;
  $('results-meta').textContent = '';
  ($('json') as HTMLTextAreaElement).value = '';
  const t0 = performance.now();
  let last: Progress = { done: 0, total: 1, label: 'starting' };
  const showProgress = () => {
    ($('progress') as HTMLProgressElement).value = last.done / Math.max(1, last.total);
    if (!controller.signal.aborted) $('progress-label').textContent = `${last.label} — ${((performance.now() - t0) / 1000).toFixed(0)} s`;
  };
  const timer = setInterval(showProgress, 1000);
  const onProgress = (p: Progress) => {
    last = p;
    showProgress();
  };
  try {
    let result: Result;
    if (s === 'kernels') {
      const rows: KernelRow[] = [];
      result = await benchKernels(
        {
          reps: options.reps,
          sets: options.sets,
          ops: options.ops,
          peers: options.peers as KernelPeer[] | undefined,
          signal: controller.signal,
          onProgress,
          onRow: (row, adapter) => {
            rows.push(row);
            showKernelRows(rows, adapter);
          },
        },
        { ort: env.peers.ort, tf: env.peers.tf, graphs: env.kernelGraphs },
      );
    } else {
      result = await benchUnet({ reps: options.reps, peers: options.peers as UnetPeer[] | undefined, signal: controller.signal, onProgress }, env.unetFiles, env.peers.ort, env.peers.ortThreads);
    }
    const seconds = ((performance.now() - t0) / 1000).toFixed(0);
    showResult(s, result, `${result.rows[0]?.adapter ?? ''} · reps ${options.reps} · ${new Date().toISOString().slice(0, 19).replace('T', ' ')} UTC · ${seconds} s`);
    $('progress-label').textContent = `done in ${seconds} s`;
    return result;
  } catch (e) {
    const err = e as Error;
    $('progress-label').textContent = err.name === 'AbortError' ? 'stopped' : `failed: ${err.name}: ${err.message}`;
    throw e;
  } finally {
    clearInterval(timer);
    running = undefined;
    setRunning(false);
    $('controls').dispatchEvent(new Event('change'));
  }
}

const w = window as unknown as Record<string, unknown>;

w.__runBench = async (s: string, options: RunOptions) => {
  try {
    if (s !== 'kernels' && s !== 'unet') return { error: `unknown suite ${s}` };
    return await run(s, options);
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack ?? ''}` };
  }
};

env = await findEnvironment();
showEnvironment(env);
buildForm(env);
wireResultButtons();
w.__benchReady = true;
