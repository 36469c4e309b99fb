/** berth-shim's public face: the daemon's entry point (src/bin/berth-shim.ts). */
export { runShim } from './daemon';
