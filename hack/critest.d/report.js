// critest's ginkgo JSON report (--ginkgo.json-report) reduced to counts and the names of the failed specs.
'use strict';

const FAILED = new Set(['failed', 'panicked', 'timedout', 'interrupted', 'aborted']);

/** A spec's full name, as ginkgo prints it: its containers' texts, then its own. */
const specName = (s) => [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].filter(Boolean).join(' ');

/**
 * { total, passed, failed, skipped, failures } over the It specs of every suite in the report; a failed
 * suite-level node (BeforeSuite and the like) is a failure too, named by its type.
 */
function summarize(report) {
  if (!Array.isArray(report)) throw new Error('not a ginkgo JSON report (expected an array of suite reports)');
  const out = { total: 0, passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const suite of report) {
    for (const s of suite.SpecReports ?? []) {
      if (s.LeafNodeType !== 'It') {
        if (FAILED.has(s.State)) out.failures.push(`[${s.LeafNodeType}]`);
        continue;
      }
      out.total++;
      if (s.State === 'passed') out.passed++;
      else if (FAILED.has(s.State)) {
        out.failed++;
        out.failures.push(specName(s));
      } else out.skipped++;
    }
  }
  out.failures.sort();
  return out;
}

module.exports = { summarize };
