/*
 * The native side's fixed addresses, shared by native.c and tramp.S: the
 * state page (mapped only in the native child) and where the epilogue goes
 * in the code page. Plain constants, usable from assembly.
 */
#ifndef VX86_TESTS_DIFFTEST_NATIVE_H
#define VX86_TESTS_DIFFTEST_NATIVE_H

#define N_STATE     0x2f0000
#define N_IN        (N_STATE + 0x000) /* struct dt_regs loaded by the prologue */
#define N_OUT        (N_STATE + 0x400) /* struct dt_regs stored by the epilogue */
#define N_SAVED_RSP  (N_STATE + 0x800) /* the C stack while the instruction runs */
#define N_TAKEN      (N_STATE + 0x900) /* set by the epilogue's "taken" entry */
#define N_FAR        (N_STATE + 0xa00) /* m16:32 to the instruction (32/16-bit code) */
#define N_DATA_SEL   (N_STATE + 0xa10) /* selector for DS, ES and SS */
#define N_GS_SEL     (N_STATE + 0xa18) /* selector for GS; 0: GS is left as it is */
#define N_VEC        (N_STATE + 0xa20) /* 1: load and store MXCSR and YMM0-15 too */
#define N_HOST_MXCSR (N_STATE + 0xa28) /* the host's MXCSR while the case runs */
#define N_MXCSR      136               /* in struct dt_regs */
#define N_YMM        144
#define N_EPILOGUE  (DT_CODE + 0xc00)

#endif
