/** Berth's own plugins, by the CNI `type` a conflist names them with: these run in-process. */
import { bridge } from '../bridge/plugin';
import { hostLocal } from '../host-local/plugin';
import type { PluginRegistry } from '../pkg/invoke';
import { loopback } from '../loopback/plugin';
import { portmap } from '../portmap/plugin';

export const BERTH_PLUGINS: PluginRegistry = {
  'berth-bridge': bridge,
  'berth-host-local': hostLocal,
  'berth-loopback': loopback,
  'berth-portmap': portmap,
};
