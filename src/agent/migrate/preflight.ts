/**
 * A migration's preflight: every check of pod-checks.ts and node-checks.ts over the facts observed on the
 * node, as the findings the NodeMigration status records and `kubectl berth doctor` prints. Pure, so the
 * report is the same in a dry run, a doctor run and the real migration; gathering the facts (the API, the
 * host's files, berthd's socket) is the caller's job. A Blocking finding stops the migration unless
 * spec.force.
 */
import type { Finding } from '../api/migration-types';
import type { KubeletEndpoint } from './endpoint';
import { finding } from './finding';
import { checkBerthd, checkCgroupDriver, checkImageDisk, checkKubeletVersion, checkRuntimeEndpoint, type BerthdFacts, type CgroupDriverFacts, type ImageFsFacts } from './node-checks';
import { checkDockerInDocker, checkDockerSocketMounts, checkNotDrained } from './pod-checks';
import { parsePodFacts, type PodFacts } from './pod-facts';

export interface PreflightFacts {
  readonly node: string;
  /** The pods bound to the node (spec.nodeName), as the API server's core/v1 Pod JSON. */
  readonly pods: readonly unknown[];
  /** status.nodeInfo.kubeletVersion. */
  readonly kubeletVersion: string;
  readonly endpoint: KubeletEndpoint;
  readonly cgroupDriver: CgroupDriverFacts;
  readonly imageFs: ImageFsFacts;
  readonly berthd: BerthdFacts;
}

export interface PreflightOptions {
  /** Below this much free space for images: a Warning (default DEFAULT_MIN_FREE_IMAGE_BYTES, 10 GiB). */
  readonly minFreeImageBytes?: number;
}

/** Parses the pods; one that does not parse becomes a Warning rather than hiding the others' findings. */
function readPods(pods: readonly unknown[]): { parsed: PodFacts[]; unreadable: Finding[] } {
  const parsed: PodFacts[] = [];
  const unreadable: Finding[] = [];
  pods.forEach((p, i) => {
    try {
      parsed.push(parsePodFacts(p));
    } catch (err) {
      unreadable.push(finding('PodUnreadable', 'Warning', `pod #${i} on the node could not be read, so no check saw it: ${(err as Error).message}`));
    }
  });
  return { parsed, unreadable };
}

/** Every check, node checks first (what `kubectl berth doctor` leads with), then the pods'. */
export function preflight(facts: PreflightFacts, opts: PreflightOptions = {}): Finding[] {
  const { parsed, unreadable } = readPods(facts.pods);
  return [
    ...checkBerthd(facts.node, facts.berthd),
    ...checkKubeletVersion(facts.node, facts.kubeletVersion),
    ...checkRuntimeEndpoint(facts.node, facts.endpoint),
    ...checkCgroupDriver(facts.node, facts.cgroupDriver),
    ...checkImageDisk(facts.node, facts.imageFs, opts.minFreeImageBytes),
    ...checkDockerSocketMounts(parsed),
    ...checkDockerInDocker(parsed),
    ...checkNotDrained(parsed),
    ...unreadable,
  ];
}

export const blockingFindings = (findings: readonly Finding[]): Finding[] => findings.filter((f) => f.severity === 'Blocking');

/** Whether the migration may go on past preflight: no Blocking finding, or spec.force. */
export const mayProceed = (findings: readonly Finding[], force: boolean): boolean => force || blockingFindings(findings).length === 0;
