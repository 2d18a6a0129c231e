// Small measurements of the machine itself, for the environment manifest.
#ifndef BLKREW_MACHINE_PROBE_H
#define BLKREW_MACHINE_PROBE_H

/// The core clock in GHz, estimated by timing a chain of dependent integer adds (one cycle of
/// latency each on every x86-64 and AArch64 core in use) on the monotonic clock. Returns 0 on an
/// architecture without the inline assembly. Evidence of the real clock where /proc reports a
/// nominal one (virtual machines), not a calibrated frequency measurement.
double blk_estimate_ghz(long adds);
#endif
