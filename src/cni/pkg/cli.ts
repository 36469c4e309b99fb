/**
 * The command line of every plugin executable: `--help` and `--version` for people; otherwise the CNI
 * protocol (environment + stdin) through pluginMain, exactly as runtimes call it.
 */
import { pluginMain, type PluginHandlers } from './skel';
import { SUPPORTED_VERSIONS } from './version';

declare const __BERTH_VERSION__: string | undefined;
const VERSION: string = typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : '0.0.0-dev';

export function pluginCli(binary: string, plugin: PluginHandlers, about: string): void {
  const arg = process.argv[2];
  if (arg === '--help' || arg === '-h') {
    process.stdout.write(
      `${binary} ${VERSION}: ${about}\n\n` +
        `A CNI plugin: run by a container runtime with CNI_COMMAND (ADD, DEL, CHECK, STATUS, GC, VERSION),\n` +
        `CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH in the environment and the network\n` +
        `configuration on stdin; prints the result or the error as JSON on stdout.\n` +
        `CNI spec versions: ${SUPPORTED_VERSIONS.join(', ')}.\n`,
    );
    return;
  }
  if (arg === '--version') {
    process.stdout.write(`${binary} ${VERSION}\nCNI protocol ${SUPPORTED_VERSIONS.join(', ')}\n`);
    return;
  }
  pluginMain(plugin).catch((err) => {
    process.stdout.write(`${JSON.stringify({ code: 999, msg: `${binary}: ${String(err)}` })}\n`);
    process.exitCode = 1;
  });
}
