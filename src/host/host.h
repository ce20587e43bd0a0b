/*
 * What this host offers for virtualization: the facts behind `vx86 host`
 * and behind `--engine auto`.
 */
#ifndef VX86_HOST_HOST_H
#define VX86_HOST_HOST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True if /dev/kvm can be opened and the CPU has VT-x or AMD-V (vmx or svm
 * in /proc/cpuinfo), so KVM runs guests in hardware. Either way, why gets
 * one phrase saying what decided it (for the --engine auto line).
 */
bool host_kvm_hw_backed(char *why, size_t len);

/* `vx86 host [--json]`: prints the report; returns the exit status. */
int host_main(int argc, char **argv);

#endif
