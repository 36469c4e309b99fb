#!/usr/bin/env node
// Builds every binary into build/bin: the TypeScript CLIs bundled into one file each (fast start: nothing to
// resolve at load time), and the C helpers compiled with the system cc.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'build', 'bin');
const pkg = require(path.join(root, 'package.json'));

/** TypeScript entry points: binary name → source. */
const entries = {
  'berth-run': 'src/bin/berth-run.ts',
  'berth-host-local': 'src/bin/berth-host-local.ts',
  'berth-shim': 'src/bin/berth-shim.ts',
  'berth-bridge': 'src/bin/berth-bridge.ts',
  'berth-loopback': 'src/bin/berth-loopback.ts',
  'berth-portmap': 'src/bin/berth-portmap.ts',
  berthd: 'src/bin/berthd.ts',
  berthctl: 'src/bin/berthctl.ts',
  'berth-agent': 'src/bin/berth-agent.ts',
  'kubectl-berth': 'src/bin/kubectl-berth.ts',
};

/**
 * The long-running daemons trade a little peak speed for resident memory (measured with `npm run bench -- cri`,
 * idle berthd + berth-shim): a 1 MiB young generation instead of up to 16 (V8 grows it for throughput and keeps
 * it), no optimizing compiler (their work is I/O and exec; TurboFan's code and its output cost ~4 MiB each, pod
 * start was no slower without it), one V8 worker thread and one malloc arena instead of one per thread.
 */
const DAEMONS = new Set(['berthd', 'berth-shim', 'berth-agent']);
const WHITESPACE_MINIFIED = new Set(['berth-agent']);
/**
 * berth-agent does little computing and has an idle-memory target: V8's lite mode (no optimizing tiers, lazy
 * feedback vectors) holds 2 MB less. It turns WebAssembly off, which the agent does not use (it has no fetch();
 * Node's fetch needs wasm); saying so keeps V8 from warning at every start.
 */
const EXTRA_NODE_FLAGS = { 'berth-agent': ['--lite-mode', '--no-expose-wasm'] };
const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1', '--no-opt', '--v8-pool-size=1'];
const DAEMON_ENV = 'MALLOC_ARENA_MAX=1';

/**
 * C programs: binary name → sources, or { sources, cc } for a program built with another compiler:
 * berth-monitor runs once per container, so it links musl (about 30 KiB resident instead of 700 with glibc).
 */
const natives = {
  'berth-monitor': { cc: 'musl-gcc', sources: ['src/native/monitor.c', 'src/native/monitor-log.c', 'src/native/monitor-exit.c', 'src/native/monitor-sock.c', 'src/native/fdio.c'] },
  'berth-spawner': { cc: 'musl-gcc', sources: ['src/native/spawner.c'] },
  // One exec per pod step, and the pidns holder stays resident for the pod's life: musl for both reasons.
  'berth-pod': { cc: 'musl-gcc', sources: ['src/native/berth-pod.c'] },
  // berth-agent's canary container holds only this program.
  'berth-canary': { cc: 'musl-gcc', sources: ['src/native/canary.c'] },
  'berth-init': ['src/native/berth-init.c', 'src/native/plan.c', 'src/native/util.c', 'src/native/fdio.c', 'src/native/rootfs.c', 'src/native/creds.c', 'src/native/hooks.c', 'src/native/bpf.c'],
  'berth-layer-meta': ['src/native/layer-meta.c'],
  'berth-netlink': ['src/native/net/berth-netlink.c', 'src/native/net/link.c', 'src/native/net/nl.c'],
};

/** Newest mtime (ms) among these files and every file below these directories. */
function newest(paths) {
  let max = 0;
  for (const p of paths) {
    let st;
    try { st = fs.statSync(p); } catch { continue; }
    if (st.isDirectory()) max = Math.max(max, newest(fs.readdirSync(p).map((e) => path.join(p, e))));
    else max = Math.max(max, st.mtimeMs);
  }
  return max;
}

/** Every output newer than every input: nothing to do (`hack/test one/suite` then starts at once). */
function upToDate(outputs, inputs) {
  if (process.env.BERTH_BUILD_FORCE) return false;
  const since = newest([...inputs, __filename]);
  return outputs.every((o) => { try { return fs.statSync(o).mtimeMs > since; } catch { return false; } });
}

async function main() {
  fs.mkdirSync(out, { recursive: true });
  // Headers are shared, so any change under src/native rebuilds every helper (they take seconds, not minutes).
  const nativeInputs = [path.join(root, 'src', 'native')];
  for (const [name, native] of Object.entries(natives)) {
    const { sources, cc = process.env.CC || 'cc' } = Array.isArray(native) ? { sources: native } : native;
    const target = path.join(out, name);
    if (upToDate([target], nativeInputs)) continue;
    // Static and stripped: it must run inside any container image (no ld.so there) and is copied into a
    // sealed memfd on every start, so smaller is cheaper.
    execFileSync(cc, ['-O2', '-static', '-s', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-o', target + '.tmp', ...sources.map((s) => path.join(root, s))], { stdio: 'inherit' });
    fs.renameSync(target + '.tmp', target);
  }
  const lib = path.join(root, 'build', 'lib');
  const tsOutputs = [path.join(lib, 'cri-api.json'), path.join(lib, 'task.proto'), ...Object.keys(entries).flatMap((n) => [path.join(out, n), path.join(lib, `${n}.js`), path.join(lib, `${n}.js.cache`)])];
  const tsInputs = [path.join(root, 'src'), path.join(root, 'package-lock.json'), path.join(root, 'tsconfig.json')];
  if (upToDate(tsOutputs, tsInputs)) return;
  writeProtoJson();
  for (const [name, entry] of Object.entries(entries)) {
    // build/bin/<name> is a small launcher; the bundle is build/lib/<name>.js with V8's code cache beside it.
    const bundle = path.join(root, 'build', 'lib', `${name}.js`);
    fs.mkdirSync(path.dirname(bundle), { recursive: true });
    await esbuild.build({
      entryPoints: [path.join(root, entry)],
      outfile: `${bundle}.tmp`,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      // Minifying was measured: no faster start (V8 pre-parses either way); readable output is worth more, except
      // for berth-agent, whose idle memory has a target: without whitespace it holds 5 MB less at start (names
      // stay, so stack traces still read; full minification measured worse).
      minify: false,
      minifyWhitespace: WHITESPACE_MINIFIED.has(name),
      sourcemap: false,
      legalComments: 'none',
      define: { __BERTH_VERSION__: JSON.stringify(pkg.version) },
      plugins: [lazyBuiltins, pureClientNode],
      logLevel: 'warning',
    });
    plainBuiltins(`${bundle}.tmp`);
    asciiOnly(`${bundle}.tmp`);
    writeLauncher(path.join(out, name), bundle, [...(DAEMONS.has(name) ? DAEMON_NODE_FLAGS : []), ...(EXTRA_NODE_FLAGS[name] ?? [])]);
  }
}

/**
 * berthd and berthctl load the CRI services from build/lib/cri-api.json (see src/cri/proto/load.ts): the
 * .proto files parsed here once, with the field naming the loader options ask for, instead of at every start.
 */
function writeProtoJson() {
  const protobuf = require('protobufjs');
  const dir = path.join(root, 'src', 'cri', 'proto');
  const files = ['api.proto', 'berth.proto'].map((f) => path.join(dir, f));
  const json = new protobuf.Root().loadSync(files, { keepCase: false }).toJSON();
  const target = path.join(root, 'build', 'lib', 'cri-api.json');
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(`${target}.tmp`, JSON.stringify(json));
  fs.renameSync(`${target}.tmp`, target);
  // berth-shim loads its task.proto from beside its bundle, so that build/ alone is a complete stack.
  const task = path.join(root, 'build', 'lib', 'task.proto');
  fs.copyFileSync(path.join(root, 'src', 'shim', 'proto', 'task.proto'), `${task}.tmp`);
  fs.renameSync(`${task}.tmp`, task);
}

// --- start-up time of the bundled CLIs (measured with `npm run bench -- oci`, see hack/bench/oci.js) ---

/**
 * Built-in modules that cost milliseconds to load and that many commands never use (`state`, `delete`,
 * `--version`, …): the bundle gets a stand-in whose properties load the real module on first access.
 * Everything else about them is unchanged (same objects, same classes).
 */
const LAZY_BUILTINS = ['net', 'child_process', 'os'];

/**
 * @kubernetes/client-node declares no `sideEffects`, so esbuild keeps every module it re-exports (the generated
 * API clients and models) although berth-agent uses only KubeConfig and Watch. Its modules have no load-time
 * effects anyone relies on; marking them so lets esbuild drop the unused ones (measured: 0.9 MB less bundle,
 * ~10 MB less RSS at start).
 */
const pureClientNode = {
  name: 'pure-client-node',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === pureClientNode) return undefined;
      if (!args.path.includes('@kubernetes/client-node') && !args.importer.includes('/node_modules/@kubernetes/client-node/')) return undefined;
      const r = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: pureClientNode });
      return r.errors.length === 0 && r.path.includes('/node_modules/@kubernetes/client-node/') ? { ...r, sideEffects: false } : undefined;
    });
  },
};

const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    build.onResolve({ filter }, (args) => (args.namespace === 'lazy-builtin'
      ? { path: args.path, external: true }
      : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      loader: 'js',
      contents: [
        `let real;`,
        `const load = () => real || (real = require(${JSON.stringify(`node:${args.path}`)}));`,
        `for (const key of ${JSON.stringify(Object.keys(require(`node:${args.path}`)))}) {`,
        `  Object.defineProperty(module.exports, key, { enumerable: true, get: () => load()[key] });`,
        `}`,
      ].join('\n'),
    }));
  },
};

/**
 * esbuild turns each `import * as fs from 'node:fs'` into a copy of the module made of getters (`__toESM`), once
 * per importing file: built-in modules are used as they are instead, unless the code reads their `.default`.
 */
function plainBuiltins(file) {
  const src = fs.readFileSync(file, 'utf8');
  const out = src.replace(/\b([\w$]+) = __toESM\(require\("(node:[\w/]+)"\)\)/g, (all, name, mod) =>
    (src.includes(`${name}.default`) ? all : `${name} = require(${JSON.stringify(mod)})`));
  fs.writeFileSync(file, out);
}

/**
 * V8 holds a script's source for as long as it runs, as one byte per character only if every character is
 * Latin-1: a single arrow in a comment doubles a 2 MB bundle in every daemon's heap. Everything else is escaped
 * (\\uXXXX means the same in strings, templates, regular expressions and identifiers, and is text in comments).
 */
function asciiOnly(file) {
  const src = fs.readFileSync(file, 'utf8');
  const out = src.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (out !== src) fs.writeFileSync(file, out);
}

/**
 * Node 20 has no module.enableCompileCache (22.1+): the launcher compiles the bundle with the V8 code cache
 * made here, by this same node (from `${bundle}.tmp`, which then replaces the bundle; every file is replaced
 * by a rename, so a CLI starting meanwhile sees old or new files, and a cache that does not fit is ignored). V8 itself rejects a cache from another V8 version or other flags; the
 * launcher also ignores it unless the bundle's size and mtime are those it was made from (V8 checks only the
 * length of the source). Without a usable cache it compiles as usual: slower, never different.
 * The bundle sees the launcher's __filename and __dirname (build/bin), as when it was the binary itself.
 */
function writeLauncher(target, bundle, nodeFlags) {
  const cache = `${bundle}.cache`;
  // The cache is made with the flags the binary runs with: V8 rejects a cache made under other flags.
  execFileSync(process.execPath, [...nodeFlags, '-e', `
    const fs = require('node:fs'), vm = require('node:vm');
    const [file, cache] = process.argv.slice(1);
    const script = new vm.Script(require('node:module').wrap(fs.readFileSync(file, 'utf8')), { filename: file });
    fs.writeFileSync(cache, script.createCachedData());
  `, `${bundle}.tmp`, `${cache}.tmp`], { stdio: 'inherit' });
  const st = fs.statSync(`${bundle}.tmp`);
  fs.renameSync(`${bundle}.tmp`, bundle);
  fs.renameSync(`${cache}.tmp`, cache);
  const rel = path.relative(path.dirname(target), bundle);
  const shebang = nodeFlags.length ? `#!/usr/bin/env -S ${DAEMON_ENV} node ${nodeFlags.join(' ')}` : '#!/usr/bin/env node';
  // The malloc setting is for this process only, not for what it starts.
  const unsetEnv = nodeFlags.length ? `delete process.env.${DAEMON_ENV.split('=')[0]};\n` : '';
  const launcher = `${shebang}
'use strict';
// Generated by hack/build.js: runs ${rel} with the V8 code cache made at build time.
${unsetEnv}const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const file = path.join(__dirname, ${JSON.stringify(rel)});
const source = fs.readFileSync(file, 'utf8');
let cachedData;
try {
  const st = fs.statSync(file);
  if (st.size === ${st.size} && st.mtimeMs === ${st.mtimeMs}) cachedData = fs.readFileSync(file + '.cache');
} catch {
  // No cache: compile as usual.
}
const wrapper = new vm.Script(require('node:module').wrap(source), { filename: file, cachedData }).runInThisContext();
wrapper.call(module.exports, module.exports, require, module, __filename, __dirname);
`;
  fs.writeFileSync(`${target}.tmp`, launcher, { mode: 0o755 });
  fs.renameSync(`${target}.tmp`, target);
}

main().catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
