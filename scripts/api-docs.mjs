#!/usr/bin/env node
// `npm run docs`: docs/api.md, the API reference of the package's three entry points (`flap-webgpu`,
// `flap-webgpu/node`, `flap-webgpu/element`), generated from the doc comments of the sources. `--check` writes
// nothing and fails when docs/api.md differs from what the sources give (the test command runs it, so the reference
// cannot go stale).
//
// How: tsc emits the declarations (.d.ts) into a temporary folder; each entry's exports are followed through
// `export … from` to the declaration they name; each declaration is printed with its doc comment as prose and its
// signature (members with their own doc comments; private members left out) as code. TypeDoc needs the TypeScript
// compiler API, which TypeScript 7 (this repository's compiler) does not have; the declarations are parsed with
// Oxc (rolldown's parseAst), which Vite already brings.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAst } from 'rolldown/parseAst';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(root, 'docs', 'api.md');
const ENTRIES = [
  { name: 'flap-webgpu', file: 'index.d.ts', about: 'The browser entry (also usable in Node with the `webgpu` package): the talking-head API, controls, inputs, weights, and the runtime and kernels under it.' },
  { name: 'flap-webgpu/node', file: 'node.d.ts', about: 'Everything of `flap-webgpu`, plus what only Node has (listed here).', skip: 'index.d.ts' },
  { name: 'flap-webgpu/element', file: 'element/flap_avatar.d.ts', about: 'Importing it defines `<flap-avatar>`.' },
];

/** The declarations of src/, emitted by tsc into a temporary folder (inside node_modules, where tsc finds the types). */
function emitDeclarations() {
  mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true });
  const dir = mkdtempSync(join(root, 'node_modules', '.cache', 'flap-api-'));
  const tsconfig = join(dir, 'tsconfig.json');
  writeFileSync(tsconfig, JSON.stringify({
    extends: join(root, 'tsconfig.json'),
    compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, outDir: join(dir, 'types'), rootDir: join(root, 'src') },
    include: [join(root, 'src')],
  }));
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { stdio: 'inherit', cwd: root });
  return { dir, types: join(dir, 'types') };
}

/** One parsed .d.ts: its statements, each with the doc comment right before it. */
function parseModule(path) {
  const text = readFileSync(path, 'utf8');
  const program = parseAst(text, { lang: 'dts' }, path);
  let previousEnd = 0;
  const statements = program.body.map((node) => {
    const gap = text.slice(previousEnd, node.start);
    previousEnd = node.end;
    const docs = [...gap.matchAll(/\/\*\*([\s\S]*?)\*\//g)];
    return { node, doc: docs.length ? cleanDoc(docs.at(-1)[1]) : '', text: text.slice(node.start, node.end) };
  });
  return { path, text, statements };
}

function cleanDoc(body) {
  return body.split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n').trim();
}

const cache = new Map();
function moduleAt(path) {
  if (!cache.has(path)) cache.set(path, parseModule(path));
  return cache.get(path);
}

function resolveSource(from, source) {
  return resolve(dirname(from), `${source}.d.ts`);
}

function declaredName(node) {
  const d = node.declaration ?? node;
  if (d.id?.name) return [d.id.name];
  if (d.type === 'VariableDeclaration') return d.declarations.map((v) => v.id.name);
  return [];
}

/**
 * Every name `path` exports, in order: name → { module, local } (where it is declared) or a namespace.
 */
function exportsOf(path, seen = new Set()) {
  const out = new Map();
  if (seen.has(path)) return out;
  seen.add(path);
  const mod = moduleAt(path);
  for (const { node } of mod.statements) {
    if (node.type === 'ExportAllDeclaration') {
      const target = resolveSource(path, node.source.value);
      if (node.exported) out.set(node.exported.name, { namespace: target });
      else for (const [k, v] of exportsOf(target, seen)) out.set(k, v);
    } else if (node.type === 'ExportNamedDeclaration') {
      if (node.source) {
        const target = resolveSource(path, node.source.value);
        const there = exportsOf(target, new Set(seen));
        for (const s of node.specifiers) {
          const found = there.get(s.local.name);
          if (!found) throw new Error(`${relative(root, path)}: ${s.local.name} is not exported by ${node.source.value}`);
          // An explicit export wins over a star export of the same name, and takes its place in the order.
          out.delete(s.exported.name);
          out.set(s.exported.name, found);
        }
      } else if (node.declaration) {
        for (const name of declaredName(node)) out.set(name, { module: path, local: name });
      } else {
        for (const s of node.specifiers) out.set(s.exported.name, { module: path, local: s.local.name });
      }
    }
  }
  return out;
}

/** The statements that declare `name` in `path` (several for overloads, or a class and its namespace). */
function declarationsOf(path, name) {
  return moduleAt(path).statements.filter(({ node }) => declaredName(node).includes(name) && node.type !== 'ImportDeclaration');
}

const KIND = {
  TSDeclareFunction: 'function', FunctionDeclaration: 'function', ClassDeclaration: 'class', TSInterfaceDeclaration: 'interface',
  TSTypeAliasDeclaration: 'type', VariableDeclaration: 'const', TSEnumDeclaration: 'enum', TSModuleDeclaration: 'namespace',
};

/** Declaration text without its leading doc comment, `export`/`declare`, private members and blank lines. */
function signature(text) {
  return text
    .replace(/^[ \t]*\/\*\*(?:(?!\*\/)[\s\S])*\*\/\s*\n(?=[ \t]*private\s)/gm, '')
    .replace(/^export\s+/, '')
    .replace(/^declare\s+/, '')
    .split('\n')
    .filter((line) => !/^\s*private\s/.test(line) && !/^\s*#private;/.test(line) && line.trim() !== '')
    .join('\n');
}

function renderItem(name, where) {
  if (where.namespace) {
    const members = [...exportsOf(where.namespace).keys()];
    const mod = moduleAt(where.namespace);
    // The module's own doc comment: the one before its first statement when that is an import.
    const first = mod.statements[0];
    const about = first?.node.type === 'ImportDeclaration' ? first.doc : '';
    return `### \`${name}\` (namespace)\n\n${about ? `${about}\n\n` : ''}Members: ${members.map((m) => `\`${m}\``).join(', ')}.\n`;
  }
  const decls = declarationsOf(where.module, where.local);
  if (decls.length === 0) return `### \`${name}\`\n\n(declared in \`${relative(root, where.module)}\`)\n`;
  const kind = KIND[(decls[0].node.declaration ?? decls[0].node).type] ?? 'export';
  const doc = decls.map((d) => d.doc).filter(Boolean).join('\n\n');
  const code = decls.map((d) => signature(d.text)).join('\n');
  return `### \`${name}\` (${kind})\n\n${doc ? `${doc}\n\n` : ''}\`\`\`ts\n${code}\n\`\`\`\n`;
}

export function generate() {
  const { dir, types } = emitDeclarations();
  try {
    const parts = [
      '# API reference',
      '',
      'Generated by `npm run docs` (scripts/api-docs.mjs) from the doc comments of `src/`; the test command fails when it is',
      'stale. Grouped by the source file that declares each export.',
      '',
    ];
    const documented = new Set();
    for (const entry of ENTRIES) {
      const path = join(types, entry.file);
      const all = exportsOf(path);
      const skip = entry.skip ? new Set(exportsOf(join(types, entry.skip)).keys()) : new Set();
      parts.push(`## \`${entry.name}\``, '', entry.about, '');
      const groups = new Map();
      for (const [name, where] of all) {
        if (skip.has(name)) continue;
        const file = relative(types, where.namespace ?? where.module).replace(/\.d\.ts$/, '.ts');
        if (!groups.has(file)) groups.set(file, []);
        groups.get(file).push([name, where]);
      }
      for (const [file, items] of groups) {
        const key = `${entry.name}:${file}`;
        if (documented.has(key)) continue;
        documented.add(key);
        parts.push(`### src/${file}`, '');
        for (const [name, where] of items) parts.push(renderItem(name, where).replace(/^### /, '#### '));
      }
    }
    return `${parts.join('\n').replace(/\n{3,}/g, '\n\n').trim()}\n`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = generate();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OUT, 'utf8');
    } catch {
      // missing: stale
    }
    if (current !== text) {
      process.stderr.write(`docs/api.md is stale: the doc comments of src/ changed; run \`npm run docs\` and commit docs/api.md\n`);
      process.exit(1);
    }
    process.stderr.write('docs/api.md is up to date\n');
  } else {
    writeFileSync(OUT, text);
    process.stderr.write(`wrote ${relative(root, OUT)} (${text.split('\n').length} lines)\n`);
  }
}
