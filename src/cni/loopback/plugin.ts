/**
 * berth-loopback: brings `lo` up in the container's netns (one berth-netlink exec) and reports its
 * addresses, as the reference plugin does; with a prevResult it passes that through. DEL does nothing.
 */
import { BerthError } from '../../common/errors';
import { checkNetnsPath, linkIn, runNetlink } from '../pkg/netlink';
import type { CmdArgs, PluginHandlers } from '../pkg/skel';
import type { Result } from '../pkg/types';
import { LEGACY_VERSIONS, SUPPORTED_VERSIONS } from '../pkg/version';

async function add(args: CmdArgs): Promise<Result> {
  checkNetnsPath(args.netns);
  const facts = await runNetlink([{ op: 'ns', netns: args.netns }, { op: 'set', name: 'lo', up: true }, { op: 'addrs', name: 'lo', family: 4 }, { op: 'addrs', name: 'lo', family: 6 }]);
  if (args.conf.prevResult) return args.conf.prevResult;
  const v4 = facts.addrs.find((a) => !a.cidr.includes(':'));
  const v6 = facts.addrs.find((a) => a.cidr.includes(':'));
  const result: Result = { cniVersion: args.conf.cniVersion, interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: args.netns }] };
  const ips = [v4, v6].filter((a) => a !== undefined).map((a) => ({ interface: 0, address: a!.cidr }));
  if (ips.length > 0) result.ips = ips;
  return result;
}

async function del(): Promise<void> {
  // Nothing to undo: lo goes away with the namespace.
}

async function check(args: CmdArgs): Promise<void> {
  checkNetnsPath(args.netns);
  const facts = await runNetlink([{ op: 'ns', netns: args.netns }, { op: 'show', name: 'lo' }]);
  if (!linkIn(facts, args.netns, 'lo')?.up) throw new BerthError('FailedPrecondition', `loopback interface is down in ${args.netns}`);
}

// cri-dockerd (as dockershim did) configures lo with cniVersion 0.2.0; the reference plugin accepts every version.
export const loopback: PluginHandlers = { name: 'loopback', add, del, check, supportedVersions: [...LEGACY_VERSIONS, ...SUPPORTED_VERSIONS] };
