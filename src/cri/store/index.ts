/** berthd's sandbox and container stores (private to src/cri). */
export { ContainerStore, containerName, type ContainerRecord, type ContainerRecordState } from './container-store';
export { SandboxStore, sandboxName, type SandboxRecord, type SandboxState } from './sandbox-store';
