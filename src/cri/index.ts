/** The CRI component's public face: berthd's and berthctl's entry points (src/bin/berthd.ts, berthctl.ts). */
export { berthdMain } from './daemon';
export { berthctlMain } from './ctl/main';
/** The CRI services' gRPC definitions, for clients of berthd (berth-agent's health checks and handler checks). */
export { criServices } from './proto/load';
