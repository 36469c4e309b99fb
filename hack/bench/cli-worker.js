// A helper process for the benchmarks: times CLI lifecycles on request, one JSON object per line on stdin,
// one answer per line on stdout. It exists so that a runtime can be measured from inside another mount
// namespace (crun on a hybrid cgroup host) with the very same timing code as the others.
'use strict';
const fs = require('node:fs');
const readline = require('node:readline');
const { cliLifecycle, forceDelete } = require('./common');

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let req;
  try {
    req = JSON.parse(line);
    if (req.op === 'hello') {
      let controllers = null;
      try { controllers = fs.readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim(); } catch { /* no unified mount */ }
      reply({ ok: true, pid: process.pid, controllers });
    } else if (req.op === 'lifecycle') {
      reply({ ok: true, ms: cliLifecycle(req) });
    } else if (req.op === 'delete') {
      forceDelete(req);
      reply({ ok: true });
    } else {
      reply({ ok: false, error: `unknown op ${req.op}` });
    }
  } catch (err) {
    reply({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});
