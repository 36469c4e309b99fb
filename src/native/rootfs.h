#ifndef BERTH_ROOTFS_H
#define BERTH_ROOTFS_H
#include "plan.h"

/* Inside the new mount namespace: propagation, mounts, devices, symlinks. Leaves the rootfs not yet pivoted. */
void rootfs_prepare(const struct plan *p);
/* pivot_root (or chroot with --no-pivot) into the prepared rootfs. */
void rootfs_enter(const struct plan *p);
/* After entering: read-only root, masked and read-only paths, sysctls. */
void rootfs_finish(const struct plan *p);
/* MODE_DETACH: lazily unmounts each T_DETACH mount point with everything below it; replies "ok" and exits. */
__attribute__((noreturn)) void rootfs_detach(const struct plan *p);
#endif
