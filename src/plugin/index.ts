/** The kubectl plugin's public face: kubectl-berth's entry point (src/bin/kubectl-berth.ts). */
export { pluginMain } from './main';
