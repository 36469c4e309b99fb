/* berth-init's device-bpf mode: the cgroup v2 device filter. */
#ifndef BERTH_BPF_H
#define BERTH_BPF_H

#include "plan.h"

/*
 * Loads p->device_bpf (struct bpf_insn[], compiled by src/oci/cgroups/devices-bpf.ts) as a
 * BPF_PROG_TYPE_CGROUP_DEVICE program and makes it the only device filter attached to p->device_bpf_dir,
 * replacing earlier ones without a moment where none is attached. Replies "ok" on the sync channel and
 * exits 0; on failure, "error <message>" (with the verifier's log when it rejected the program) and exit 1.
 * Messages do not name the config field: berth-run adds linux.resources.devices.
 */
__attribute__((noreturn)) void device_bpf_run(const struct plan *p);

#endif
