#!/usr/bin/env node
// The layering `npm run lint` holds src/ to: bin → component faces → common. A component is a folder under src/
// (cni, cri, image, oci, shim); its face is its index.ts or api.ts. Inside a component anything goes; from
// outside only the face may be imported; common/ imports no component; nothing imports bin/. Also reports
// import cycles between files. Prints one line per problem and exits 1 when there is any.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const FACES = ['index.ts', 'api.ts'];

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative import specifiers of a file, type-only ones included (they shape the layering too). */
function importsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']*)'|(?:^|\n)\s*import\s+'(\.[^']*)'|require\('(\.[^']*)'\)|import\('(\.[^']*)'\)/g;
  for (let m; (m = re.exec(text));) specs.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  return specs;
}

function resolve(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base, `${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  return undefined;
}

/** The problems of the tree under `src` (a src/ folder), as lines. */
function check(src) {
  const SRC = path.resolve(src);
  /** 'common', 'bin' or a component name: the first folder under src/. */
  const area = (file) => path.relative(SRC, file).split(path.sep)[0];
  const isFace = (file) => path.dirname(file) === path.join(SRC, area(file)) && FACES.includes(path.basename(file));
  const rel = (file) => path.relative(path.dirname(SRC), file);
  const problems = [];
  const graph = new Map();
  for (const file of walk(SRC)) {
    const deps = [];
    for (const spec of importsOf(file)) {
      const target = resolve(file, spec);
      if (!target) {
        if (!spec.endsWith('.json')) problems.push(`${rel(file)}: cannot resolve '${spec}'`);
        continue;
      }
      if (!target.startsWith(SRC + path.sep)) continue;
      deps.push(target);
      const from = area(file);
      const to = area(target);
      if (from === to) continue;
      if (to === 'bin') problems.push(`${rel(file)}: imports ${rel(target)} (nothing imports bin/)`);
      else if (from === 'common') problems.push(`${rel(file)}: imports ${rel(target)} (common/ imports no component)`);
      else if (to !== 'common' && !isFace(target)) problems.push(`${rel(file)}: imports ${rel(target)}, inside ${to}/ (use src/${to}/index.ts or api.ts)`);
    }
    graph.set(file, deps);
  }
  for (const cycle of cycles(graph)) problems.push(`import cycle: ${cycle.map(rel).join(' → ')}`);
  return problems;
}

/** One cycle per strongly connected component of more than one file (Tarjan), shown as a path. */
function cycles(graph) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const visit = (v) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(pathWithin(graph, new Set(scc), [...scc].sort()[0]));
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** A cycle through `start` inside `members` (breadth-first back to it). */
function pathWithin(graph, members, start) {
  const prev = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const p = [start];
        for (let x = v; x !== start; x = prev.get(x)) p.splice(1, 0, x);
        return [...p, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

module.exports = { check };

if (require.main === module) {
  const problems = check(path.resolve(__dirname, '..', 'src'));
  for (const p of problems) process.stdout.write(`${p}\n`);
  if (problems.length) {
    process.stderr.write(`check-imports: ${problems.length} problem(s)\n`);
    process.exit(1);
  }
}
