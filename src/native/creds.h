#ifndef BERTH_CREDS_H
#define BERTH_CREDS_H
#include "plan.h"

/* rlimits, oom_score_adj, personality, ioprio, scheduler: settings that need privileges we are about to drop. */
void creds_apply_limits(const struct plan *p);
/* Bounding set, uid/gids, capability sets, ambient caps, no_new_privs, LSM labels. */
void creds_apply_identity(const struct plan *p);
/* The CPU affinity for phase 1 (berth-init's start) or 2 (right before execve), if the plan has one. */
void creds_set_affinity(const struct plan *p, int phase);
/* Loads the seccomp program, if any. */
void creds_load_seccomp(const struct plan *p);
#endif
