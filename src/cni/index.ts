/**
 * The CNI component's public face: the four plugins and the command-line skeleton their executables run
 * (src/bin/berth-*.ts). Everything else (pkg/, the plugins' internals) is private to src/cni.
 */
export { pluginCli } from './pkg/cli';
export { bridge } from './bridge/plugin';
export { hostLocal } from './host-local/plugin';
export { loopback } from './loopback/plugin';
export { portmap } from './portmap/plugin';
/** berthd's pod networking: the libcni-style invoker over the in-process plugins. */
export { Invoker, loadNetwork, networkFromText, type Attachment, type InvokerOptions, type LoadedNetwork } from './invoker';
export type { Result as CniResult } from './pkg/types';
