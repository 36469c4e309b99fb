/** The shared CNI library (the counterpart of the reference plugins' pkg/ and libcni's types). */
export * from './types';
export * from './errors';
export * from './version';
export * from './env';
export * from './config';
export * from './result';
export { runPlugin, pluginMain, type CmdArgs, type PluginHandlers, type PluginIO, type PluginOutcome } from './skel';
export { withDirLock, lockName, type LockOptions } from './lock';
export { findPlugin, execPlugin, invokePlugin, resultOf, errorOf, expectSuccess, delegateEnv, type PluginRegistry, type ExecOptions } from './invoke';
