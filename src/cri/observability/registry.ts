/**
 * berthd's Prometheus metric families, on a registry of their own (prom-client's global one is never used, so
 * no default process metrics: berth-agent's scrape covers the process side, and they cost memory here).
 * Names are in base units with the `berth_` prefix. Gauges over the stores are added by store-gauges.ts.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds: most CRI calls take milliseconds; pulls, stops and streams take up to minutes. */
const CALL_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 120];
const POD_START_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const PULL_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const CNI_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

export class BerthdMetrics {
  readonly registry = new Registry();

  readonly criOperations = new Counter({
    name: 'berth_cri_operations_total',
    help: 'CRI calls berthd answered, by gRPC service, method and status code (OK, NotFound, ...); streams count when they end.',
    labelNames: ['service', 'method', 'code'] as const,
    registers: [this.registry],
  });

  readonly criDuration = new Histogram({
    name: 'berth_cri_operation_duration_seconds',
    help: 'Time from a CRI call arriving to its status being sent (whatever the code), by gRPC service and method; for streams, their whole life.',
    labelNames: ['service', 'method'] as const,
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });

  readonly podStart = new Histogram({
    name: 'berth_pod_start_duration_seconds',
    help: 'Time from RunPodSandbox starting to the sandbox being ready (namespaces, CNI ADD, the infra container when a pause image is configured, and pulling that image the first time); successful RunPodSandbox calls only.',
    buckets: POD_START_BUCKETS,
    registers: [this.registry],
  });

  readonly imagePullDuration = new Histogram({
    name: 'berth_image_pull_duration_seconds',
    help: 'Time a successful image pull took, from the request to the image being recorded (manifest, layers downloaded and unpacked); kubelet PullImage calls and the pause image alike.',
    buckets: PULL_BUCKETS,
    registers: [this.registry],
  });

  readonly imagePullBytes = new Counter({
    name: 'berth_image_pull_bytes_total',
    help: 'Bytes of blobs (layers and configs) downloaded from registries by image pulls, including pulls that failed later; blobs already in the store are not downloaded and do not count.',
    registers: [this.registry],
  });

  readonly cniDuration = new Histogram({
    name: 'berth_cni_operation_duration_seconds',
    help: 'Time of one CNI operation on a network, successful or not, by plugin (the plugin types of the network, joined with "+": a chain is timed as a whole) and command (ADD, DEL, STATUS, GC; berthd sends no CHECK).',
    labelNames: ['plugin', 'command'] as const,
    buckets: CNI_BUCKETS,
    registers: [this.registry],
  });

  constructor(version: string) {
    new Gauge({ name: 'berth_build_info', help: 'Build information; always 1.', labelNames: ['component', 'version'] as const, registers: [this.registry] })
      .set({ component: 'berthd', version }, 1);
  }

  /** The text exposition of every family, and the content type to send it with. */
  async expose(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
