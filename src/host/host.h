/*
 * What this host offers for virtualization: the facts behind `vx86 host`
 * and behind `--engine auto`.
 *
 * Every /proc, /sys and /dev path read is prefixed with $VX86_HOST_ROOT when
 * that is set and not empty (a sysroot, so tests can use a fake tree).
 */
#ifndef VX86_HOST_HOST_H
#define VX86_HOST_HOST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True if /dev/kvm can be opened O_RDWR, answers KVM_GET_API_VERSION with 12
 * and runs guests in hardware: vmx or svm in /proc/cpuinfo, and not only the
 * software KVM PVM (kvm_pvm loaded, neither kvm_intel nor kvm_amd). Either
 * way, why gets one phrase saying what decided it (for the --engine auto line).
 */
bool host_kvm_hw_backed(char *why, size_t len);

/*
 * `vx86 host [--json]` (argv[0] is "host"): prints the report on stdout and
 * returns the exit status: 0, or 2 with one line on stderr for a bad option.
 */
int host_main(int argc, char **argv);

#endif
