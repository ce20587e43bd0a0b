/*
 * The console: the guest's COM1 and hvc0 (virtio-console) on the terminal
 * (or written to a file), served by the main thread's event loop
 * (util/loop.h) while a machine runs. Both consoles' output goes to it and
 * what the user types goes to both, as one terminal attached to the two: a
 * guest may run its shell on either. hvc0 keeps what it cannot deliver yet
 * (virtio/console.h). COM1 takes what its FIFO holds and the rest waits,
 * stdin unread meanwhile, as long as the guest reads COM1; once COM1 has
 * taken nothing for a second (a guest whose console is hvc0 never reads
 * it), what waits for it is dropped, and so is what its FIFO cannot take
 * until it takes a byte again.
 *
 * Output: a vCPU's write (console_put) goes into a 1 MiB ring and the loop
 * writes it out, a pipe's or terminal's as it takes more (at most a page a
 * round, which cannot block), a file's at once; a vCPU never waits for the
 * terminal. A full ring drops its oldest bytes (one line on stderr at the
 * first, the count when the machine stops), as QEMU's ring-buffer chardev
 * does: the newest output (a panic, the power-off) is what a user wants,
 * and blocking the vCPU instead would stop the guest behind a reader that
 * went away.
 *
 * On a terminal, stdin is put in raw mode so that every key reaches the
 * guest; the terminal is restored on every way out of vx86 (normal exit,
 * error exit, SIGTERM/SIGINT/SIGHUP, a crash). Ctrl-A is the escape key, as
 * in QEMU: Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A H helps.
 */
#ifndef VX86_VM_CONSOLE_H
#define VX86_VM_CONSOLE_H

#include <stdint.h>

#include "util/loop.h"

struct vm;

/* target: "stdio" or the path of a file to write the output to. Prints one
 * line on failure. Main thread, once. */
int console_init(const char *target);

/* Writes one byte of guest output. Any thread; never waits for the
 * terminal (while attached; before, a unit test's, it writes at once). */
void console_put(uint8_t byte);

/* Main thread: serves vm's console on loop until console_detach: input to
 * COM1 and hvc0, output out. Prints one line on failure. */
int console_attach(struct loop *l, struct vm *vm);

/* Main thread, once vm's vCPUs have stopped: writes what output is left
 * and leaves the loop. Leaves the terminal raw, so that a guest restarted
 * after a reset (--on-reboot restart) keeps it: console_restore() ends
 * that. */
void console_detach(void);

/* Puts the terminal back as it was; idempotent, async-signal-safe. */
void console_restore(void);

#endif
