/** The CRI component's public face: berthd's and berthctl's entry points (src/bin/berthd.ts, berthctl.ts). */
export { berthdMain } from './daemon';
export { berthctlMain } from './ctl/main';
