#ifndef BERTH_CREDS_H
#define BERTH_CREDS_H
#include "plan.h"

/* rlimits, oom_score_adj, personality, ioprio: settings that need privileges we are about to drop. */
void creds_apply_limits(const struct plan *p);
/* Bounding set, uid/gids, capability sets, ambient caps, no_new_privs, LSM labels. */
void creds_apply_identity(const struct plan *p);
/* Loads the seccomp program, if any. */
void creds_load_seccomp(const struct plan *p);
#endif
