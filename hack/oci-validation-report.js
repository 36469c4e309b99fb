#!/usr/bin/env node
// Reads the results hack/oci-validation run leaves (<name>.tap, .err, .rc per program), prints a table of TAP
// counts with the failing lines, and optionally writes them as JSON (test/oci/runtime-tools.test.ts reads it).
// Usage: oci-validation-report.js DIR [--json FILE] NAME...
"use strict";
const fs = require("fs");
const path = require("path");

// tap-go output: "ok N - desc", "not ok N - desc", "ok N # skip reason", YAML diagnostics indented under a
// result between "  ---" and "  ...". Assertions are keyed by description plus occurrence, because a program
// that stops early shifts the numbers of everything after it.
function parseTap(text) {
  const tests = [];
  // Diagnostics before any result: the lifecycle programs (hooks, poststart, ...) report errors only so.
  const orphans = [];
  let plan = null;
  let yaml = null;
  for (const line of text.split("\n")) {
    if (yaml !== null) {
      if (/^\s+\.\.\.\s*$/.test(line)) {
        if (tests.length) tests[tests.length - 1].diag = yaml.join("\n");
        else orphans.push(yaml.join("\n"));
        yaml = null;
      } else yaml.push(line);
      continue;
    }
    if (/^\s+---\s*$/.test(line)) {
      yaml = [];
      continue;
    }
    let m = /^1\.\.(\d+)/.exec(line);
    if (m) {
      plan = Number(m[1]);
      continue;
    }
    m = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$/.exec(line);
    if (!m) continue;
    let desc = m[3];
    let directive = null;
    const d = /\s*#\s*(skip|todo)\b\s*(.*)$/i.exec(desc);
    if (d) {
      directive = d[1].toLowerCase();
      desc = desc.slice(0, d.index) + (d[2] ? ` (${d[1].toLowerCase()}: ${d[2]})` : "");
    }
    tests.push({ n: m[2] ? Number(m[2]) : tests.length + 1, ok: m[1] === "ok", directive, desc: desc.trim(), line });
  }
  const seen = new Map();
  for (const t of tests) {
    const k = seen.get(t.desc) || 0;
    seen.set(t.desc, k + 1);
    t.key = k ? `${t.desc} [#${k + 1}]` : t.desc;
    t.status = t.directive === "skip" ? "skipped" : t.ok || t.directive === "todo" ? "passed" : "failed";
  }
  return { plan, tests, orphans };
}

// A diagnostic block is JSON here; the lifecycle programs put their verdict in an "error" member.
function yamlError(text) {
  try {
    const v = JSON.parse(text);
    return v && typeof v.error === "string" && v.error ? v.error : null;
  } catch {
    return null;
  }
}

function readResult(dir, name) {
  const read = (ext) => {
    try {
      return fs.readFileSync(path.join(dir, `${name}.${ext}`), "utf8");
    } catch {
      return "";
    }
  };
  const rc = Number(read("rc").trim() || "-1");
  const tap = read("tap");
  const { plan, tests, orphans } = parseTap(tap);
  // Outcomes that are not TAP lines, as assertions of their own so that they compare like the others.
  const errors = orphans.map(yamlError).filter(Boolean);
  tests.push({ n: 0, key: "(program exits 0)", desc: "(program exits 0)", status: rc === 0 ? "passed" : "failed", line: `exit status ${rc}` });
  tests.push({
    n: 0, key: "(no error diagnostic outside a test)", desc: "(no error diagnostic outside a test)",
    status: errors.length ? "failed" : "passed", line: errors.length ? `error: ${errors[0].split("\n")[0]}` : "",
  });
  const count = (s) => tests.filter((t) => t.status === s && t.n > 0).length;
  return {
    name,
    rc,
    timedOut: rc === 124 || rc === 137,
    seconds: Number(read("seconds").trim() || "0"),
    plan,
    passed: count("passed"),
    failed: count("failed"),
    skipped: count("skipped"),
    tests,
    orphans,
    tap,
    stderr: read("err").slice(-4000),
  };
}

function main() {
  const args = process.argv.slice(2);
  const dir = args.shift();
  let json = null;
  const names = [];
  while (args.length) {
    const a = args.shift();
    if (a === "--json") json = args.shift();
    else names.push(a);
  }
  const results = names.map((n) => readResult(dir, n));
  const w = Math.max(7, ...names.map((n) => n.length));
  const out = [];
  out.push(`${"program".padEnd(w)}  pass  fail  skip  exit   secs`);
  for (const r of results) {
    const exit = r.timedOut ? "timeout" : String(r.rc);
    out.push(`${r.name.padEnd(w)}  ${String(r.passed).padStart(4)}  ${String(r.failed).padStart(4)}  ${String(r.skipped).padStart(4)}  ${exit.padEnd(7)}${String(r.seconds).padStart(4)}`);
    for (const t of r.tests.filter((t) => t.status === "failed" && t.n > 0)) out.push(`    ${t.line}`);
    for (const e of r.orphans.map(yamlError).filter(Boolean)) out.push(`    error: ${e.split("\n")[0].slice(0, 200)}`);
    if (r.tests.length === 0 || r.rc !== 0) {
      const tail = r.stderr.trim().split("\n").slice(-3).filter(Boolean);
      for (const l of tail) out.push(`    stderr: ${l.slice(0, 200)}`);
    }
    if (r.plan !== null && r.tests.length < r.plan) out.push(`    (planned ${r.plan}, ran ${r.tests.length})`);
  }
  const sum = (k) => results.reduce((a, r) => a + r[k], 0);
  out.push(`oci-validation: ${sum("passed")} passed, ${sum("failed")} failed, ${sum("skipped")} skipped`);
  console.log(out.join("\n"));
  if (json) fs.writeFileSync(json, JSON.stringify(results, null, 2));
  process.exit(results.some((r) => r.failed || r.rc !== 0) ? 1 : 0);
}

if (require.main === module) main();
module.exports = { parseTap, readResult, yamlError };
