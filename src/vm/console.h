/*
 * The console: the guest's COM1 and hvc0 (virtio-console) on the terminal
 * (or written to a file), and the main thread's event loop while the VM
 * runs. Both consoles' output goes to it and what the user types goes to
 * both, as one terminal attached to the two: a guest may run its shell on
 * either. hvc0 keeps what it cannot deliver yet (virtio/console.h). COM1
 * takes what its FIFO holds and the rest waits, stdin unread meanwhile, as
 * long as the guest reads COM1; once COM1 has taken nothing for a second
 * (a guest whose console is hvc0 never reads it), what waits for it is
 * dropped, and so is what its FIFO cannot take until it takes a byte again.
 *
 * On a terminal, stdin is put in raw mode so that every key reaches the
 * guest; the terminal is restored on every way out of vx86 (normal exit,
 * error exit, SIGTERM/SIGINT/SIGHUP, a crash). Ctrl-A is the escape key, as
 * in QEMU: Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A H helps.
 */
#ifndef VX86_VM_CONSOLE_H
#define VX86_VM_CONSOLE_H

#include <stdint.h>

struct vm;

/* target: "stdio" or the path of a file to write the output to. Blocks
 * SIGTERM, SIGINT and SIGHUP in the calling thread (and so in the threads
 * it creates later): the console loop takes them. Prints one line on
 * failure. */
int console_init(const char *target);

/* Writes one byte of guest output. Any thread. */
void console_put(uint8_t byte);

/* Runs on the main thread until the VM stops: feeds input to COM1 and hvc0
 * and turns the signals above into a stop. Leaves the terminal raw, so that a guest
 * restarted after a reset (--on-reboot restart) keeps it: console_restore()
 * ends that. */
void console_loop(struct vm *vm);

/* Puts the terminal back as it was; idempotent, async-signal-safe. */
void console_restore(void);

#endif
