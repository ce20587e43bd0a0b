/*
 * difftest: the emu engine against the host CPU, instruction by instruction.
 *
 *   difftest [-n CASES] [-s SEED] [-c CASE] [-f FORM] [-m MAX] [-F] [-J] [-l] [-v]
 *
 * Runs CASES random cases (default 20000) of the forms in forms.c, each on
 * the host CPU (in a forked child) and in the interpreter, and compares
 * all GPRs, the status flags and DF, the data page and the exception
 * raised, if any. Every case is a function of (SEED, case number), so a
 * failure is replayed with -s SEED -c CASE (and the same -f). Exits 1 if
 * any case differs, 2 on bad usage or set-up failure, 77 (meson's "skipped")
 * if this host cannot run the native side at all. -l lists the forms,
 * -v prints every case, -m sets how many failures are printed in full.
 * -F uses only the host's flat user segments, as on a host that cannot
 * load LDT segments (see difftest.h): 16-bit forms are then skipped.
 * -J runs the emu side through the binary translator (src/accel/emu/jit),
 * every case translated at its first run, instead of the interpreter; a
 * host that gives the translator no code cache skips (77).
 */
#include <Zydis/Zydis.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "difftest.h"

#define CHUNK 512

static bool through_jit; /* -J */

static const char *const reg_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                          "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

static void flag_names(uint64_t f, char *buf, size_t len)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{F_CF, "CF"}, {F_PF, "PF"}, {F_AF, "AF"}, {F_ZF, "ZF"},
                 {F_SF, "SF"}, {F_DF, "DF"}, {F_OF, "OF"}};
    size_t n = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (f & names[i].bit)
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? " " : "",
                                  names[i].name);
}

static const char *vector_name(int v)
{
    static const char *const names[32] = {
        [0] = "#DE",  [1] = "#DB",  [3] = "#BP",  [4] = "#OF",  [5] = "#BR",  [6] = "#UD",
        [7] = "#NM",  [8] = "#DF",  [10] = "#TS", [11] = "#NP", [12] = "#SS", [13] = "#GP",
        [14] = "#PF", [16] = "#MF", [17] = "#AC", [19] = "#XM"};

    return v >= 0 && v < 32 && names[v] ? names[v] : "#?";
}

static void print_outcome(const char *side, const struct dt_result *r, uint64_t target)
{
    if (r->vector == -1 && target)
        printf("  %-6s completed, branch to 0x%" PRIx64 " %s\n", side, target,
               r->taken ? "taken" : "not taken");
    else if (r->vector == -1)
        printf("  %-6s completed\n", side);
    else if (r->vector == -2)
        printf("  %-6s %s\n", side, r->why);
    else if (r->signo)
        printf("  %-6s exception %s (vector %d, signal %d)\n", side, vector_name(r->vector),
               r->vector, r->signo);
    else
        printf("  %-6s exception %s (vector %d)\n", side, vector_name(r->vector), r->vector);
}

static void disassemble(const struct dt_case *c, char *text, size_t len)
{
    ZydisDisassembledInstruction insn;

    if (ZYAN_SUCCESS(ZydisDisassembleATT(c->mode == 64 ? ZYDIS_MACHINE_MODE_LONG_64
                                                       : ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
                                         DT_INSN, c->code, c->len, &insn)))
        snprintf(text, len, "%s", insn.text);
    else
        snprintf(text, len, "(Zydis cannot decode it)");
}

static void print_ymm(const char *what, const uint8_t *y)
{
    printf("  %-12s", what);
    for (int q = 3; q >= 0; q--) {
        uint64_t v;

        memcpy(&v, y + 8 * q, 8);
        printf(" %016" PRIx64, v);
    }
    printf("\n");
}

/* A VEX case's vector input, and what differs in its output. */
static void print_vec(const struct dt_case *c, const struct dt_result *nat,
                      const struct dt_result *emu, const bool *ymm_differ, bool mxcsr_differ)
{
    char name[16];

    printf("  mxcsr in %04" PRIx64, c->in.mxcsr);
    if (mxcsr_differ)
        printf(", native %04" PRIx64 " emu %04" PRIx64, nat->regs.mxcsr, emu->regs.mxcsr);
    printf("\n");
    for (int i = 0; i < 16; i++) {
        if (!ymm_differ[i])
            continue;
        snprintf(name, sizeof(name), "ymm%d in", i);
        print_ymm(name, c->in.ymm[i]);
        print_ymm("  native", nat->regs.ymm[i]);
        print_ymm("  emu", emu->regs.ymm[i]);
    }
}

/* Compares one case; prints it in full if print is set. True if equal. */
static bool check(const struct dt_case *c, const struct dt_result *nat, const struct dt_result *emu,
                  bool print, uint64_t seed, uint64_t n, const char *filter)
{
    uint64_t fmask = F_COMPARE & ~(uint64_t)c->flags_undef;
    bool same = true, regs_differ[16] = {false}, flags_differ = false, ymm_differ[16] = {false};
    bool mxcsr_differ = false;
    int mem_diffs = 0;

    /* The vector state also at a fault: it must be as before the instruction
     * (or, for #XM, with the flags that tell why). */
    if (c->vec && emu->vector != -2 && nat->vector == emu->vector) {
        for (int i = 0; i < 16; i++) {
            ymm_differ[i] = memcmp(nat->regs.ymm[i], emu->regs.ymm[i], 32) != 0;
            same &= !ymm_differ[i];
        }
        mxcsr_differ = nat->regs.mxcsr != emu->regs.mxcsr;
        same &= !mxcsr_differ;
    }
    if (emu->vector == -2 || nat->vector != emu->vector) {
        same = false;
    } else if (nat->vector == -1) {
        for (int i = 0; i < 16; i++) {
            uint64_t m = ~c->regs_undef[i];

            regs_differ[i] = ((nat->regs.gpr[i] ^ emu->regs.gpr[i]) & m) != 0;
            same &= !regs_differ[i];
        }
        flags_differ = ((nat->regs.rflags ^ emu->regs.rflags) & fmask) != 0;
        same &= nat->taken == emu->taken;
        same &= !flags_differ;
        for (int i = 0; i < DT_DATA_SIZE; i++)
            if (nat->data[i] != emu->data[i] &&
                !(i >= c->mem_undef_off && i < c->mem_undef_off + c->mem_undef_len))
                mem_diffs++;
        same &= mem_diffs == 0;
    }
    if (same || !print)
        return same;

    char text[128], fl[64];

    disassemble(c, text, sizeof(text));
    printf("FAIL case %" PRIu64 " (seed 0x%" PRIx64 "), form \"%s\"\n", n, seed,
           dt_form_name(c->form));
    printf("  bytes ");
    for (int i = 0; i < c->len; i++)
        printf(" %02x", c->code[i]);
    printf("   %s\n", text);
    printf("  input:");
    for (int i = 0; i < 16; i++)
        printf("%s%-3s %016" PRIx64, i % 4 ? "  " : "\n    ", reg_names[i], c->in.gpr[i]);
    flag_names(c->in.rflags, fl, sizeof(fl));
    printf("\n    rflags %04" PRIx64 " (%s)\n", c->in.rflags, fl);
    print_outcome("native", nat, c->target);
    print_outcome("emu", emu, c->target);
    for (int i = 0; i < 16; i++)
        if (regs_differ[i])
            printf("  %-3s native %016" PRIx64 " emu %016" PRIx64 "\n", reg_names[i],
                   nat->regs.gpr[i], emu->regs.gpr[i]);
    if (flags_differ) {
        char a[64], b[64], d[64];

        flag_names(nat->regs.rflags & fmask, a, sizeof(a));
        flag_names(emu->regs.rflags & fmask, b, sizeof(b));
        flag_names((nat->regs.rflags ^ emu->regs.rflags) & fmask, d, sizeof(d));
        printf("  flags native (%s) emu (%s): %s differ\n", a, b, d);
    }
    if (c->vec)
        print_vec(c, nat, emu, ymm_differ, mxcsr_differ);
    if (c->flags_undef) {
        flag_names(c->flags_undef, fl, sizeof(fl));
        printf("  (undefined, not compared: %s)\n", fl);
    }
    for (int i = 0, shown = 0; i < DT_DATA_SIZE && mem_diffs; i++) {
        if (nat->data[i] == emu->data[i] ||
            (i >= c->mem_undef_off && i < c->mem_undef_off + c->mem_undef_len))
            continue;
        if (shown++ == 16) {
            printf("  ... %d bytes differ in all\n", mem_diffs);
            break;
        }
        printf("  mem 0x%x: native %02x emu %02x (input %02x)\n", DT_DATA + i, nat->data[i],
               emu->data[i], c->data[i]);
    }
    printf("  replay: difftest -s 0x%" PRIx64 " -c %" PRIu64 "%s%s%s%s%s\n", seed, n,
           c->gs_sel == DT_GS_SEL ? "" : " -F", through_jit ? " -J" : "", filter ? " -f '" : "",
           filter ? filter : "", filter ? "'" : "");
    return false;
}

/* Keeps the forms of the modes this host runs natively: 32-bit and 16-bit
 * code need the kernel's IA-32 emulation (its 32-bit user code segment),
 * 16-bit code an LDT code segment too. */
static int drop_missing_modes(int *matched, int n, bool ldt)
{
    static struct dt_case probe[3];
    static struct dt_result out[3];
    static const uint8_t modes[3] = {64, 32, 16};
    bool ok[3];
    int kept = 0;

    for (int i = 0; i < 3; i++) {
        probe[i] = (struct dt_case){.code = {0x90}, .len = 1, .mode = modes[i]};
        dt_case_gs(&probe[i], ldt);
        probe[i].in.rflags = 2;
        probe[i].in.gpr[R_SP] = DT_DATA + 0x800;
    }
    if (native_run(probe, out, 3))
        return 0;
    for (int i = 0; i < 3; i++) {
        ok[i] = out[i].vector == -1 && (modes[i] != 16 || ldt);
        if (modes[i] == 16 && !ldt)
            printf("difftest: 16-bit code needs an LDT code segment, which this run cannot "
                   "use: the 16-bit forms are skipped\n");
        else if (!ok[i])
            printf("difftest: this host cannot run %d-bit code natively (%s): those forms are "
                   "skipped\n",
                   modes[i], out[i].vector == -2 ? out[i].why : vector_name(out[i].vector));
    }
    for (int i = 0; i < n; i++) {
        int mode = dt_form_mode(matched[i]);

        if (ok[mode == 64 ? 0 : mode == 32 ? 1 : 2])
            matched[kept++] = matched[i];
    }
    return kept;
}

/* -v: one line per case. */
static void trace(uint64_t n, const struct dt_case *c, const struct dt_result *nat)
{
    char text[128];

    disassemble(c, text, sizeof(text));
    printf("%6" PRIu64 " %-40s %s\n", n, text, nat->vector == -1 ? "" : vector_name(nat->vector));
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: difftest [-n CASES] [-s SEED] [-c CASE] [-f FORM] [-m MAX] [-F] [-J] [-l] [-v]\n");
    exit(2);
}

/* Runs the cases [start, end) of the matched forms; returns how many differ,
 * or -1 if the native side failed. */
static int64_t run_cases(uint64_t seed, uint64_t start, uint64_t end, const int *matched,
                         int nmatched, bool ldt, const char *filter, bool verbose, int max_print,
                         bool print_all, int *fails, uint64_t *faults)
{
    static struct dt_case batch[CHUNK];
    static struct dt_result nat[CHUNK], emu;
    int64_t failures = 0;

    for (uint64_t base = start; base < end; base += CHUNK) {
        int n = end - base < CHUNK ? (int)(end - base) : CHUNK;

        for (int i = 0; i < n; i++) {
            uint64_t k = base + (uint64_t)i;

            dt_case_make(&batch[i], seed, k, matched[k % (uint64_t)nmatched], ldt);
        }
        if (native_run(batch, nat, n)) {
            fprintf(stderr,
                    "difftest: seed 0x%" PRIx64 ": the native side failed in cases %" PRIu64
                    "..%" PRIu64 "\n",
                    seed, base, base + (uint64_t)n - 1);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t k = base + (uint64_t)i;
            bool print;

            emu_side_run(&batch[i], &emu);
            if (verbose)
                trace(k, &batch[i], &nat[i]);
            if (nat[i].vector >= 0 && nat[i].vector < 32 && nat[i].vector == emu.vector)
                faults[nat[i].vector]++;
            print = fails[batch[i].form] == 0 && failures < max_print;
            if (!check(&batch[i], &nat[i], &emu, print || print_all, seed, k, filter)) {
                failures++;
                fails[batch[i].form]++;
            }
        }
    }
    return failures;
}

int main(int argc, char **argv)
{
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32), cases = 20000;
    uint64_t only_case = UINT64_MAX, faults[32] = {0}, start = 0;
    const char *filter = NULL;
    int opt, max_print = 10, *matched = NULL, nmatched = 0, *fails = NULL, err, status = 2;
    bool list = false, verbose = false, use_ldt = true, ldt = false, emu_up = false;
    int64_t failures;

    while ((opt = getopt(argc, argv, "n:s:c:f:m:FJlv")) != -1) {
        switch (opt) {
        case 'n':
            cases = strtoull(optarg, NULL, 0);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 0);
            break;
        case 'c':
            only_case = strtoull(optarg, NULL, 0);
            break;
        case 'f':
            filter = optarg;
            break;
        case 'm':
            max_print = atoi(optarg);
            break;
        case 'F':
            use_ldt = false;
            break;
        case 'J':
            through_jit = true;
            break;
        case 'l':
            list = true;
            break;
        case 'v':
            verbose = true;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (dt_forms_init() < 0)
        return 2;
    matched = calloc((size_t)dt_form_count(), sizeof(*matched));
    fails = calloc((size_t)dt_form_count(), sizeof(*fails));
    if (!matched || !fails)
        goto out;
    for (int f = 0; f < dt_form_count(); f++)
        if (!filter || strstr(dt_form_name(f), filter))
            matched[nmatched++] = f;
    if (list) {
        for (int i = 0; i < nmatched; i++)
            printf("%s\n", dt_form_name(matched[i]));
        status = 0;
        goto out;
    }
    if (nmatched == 0) {
        fprintf(stderr, "difftest: no form matches '%s' (see -l)\n", filter);
        goto out;
    }
    if (only_case != UINT64_MAX) {
        start = only_case;
        cases = only_case + 1;
    }
    err = native_start(use_ldt, &ldt);
    if (err == -ENOTSUP) {
        printf("difftest: SKIP: this host cannot run instructions in the native sandbox\n");
        status = 77;
        goto out;
    }
    if (!err)
        err = emu_side_init(through_jit);
    emu_up = !err;
    if (err == -ENOTSUP) {
        printf("difftest: SKIP: this host gives the translator no code cache\n");
        status = 77;
        goto out_native;
    }
    if (err) {
        fprintf(stderr, "difftest: cannot set up the native child or the emu VM\n");
        goto out_native;
    }
    if (use_ldt && !ldt)
        printf("difftest: this host faults on loading LDT segments: the flat user segments "
               "only (as -F)\n");
    nmatched = drop_missing_modes(matched, nmatched, ldt);
    if (nmatched == 0) {
        status = 77;
        goto out_native;
    }
    printf("difftest: seed 0x%" PRIx64 ", %" PRIu64 " cases of %d forms%s%s\n", seed, cases - start,
           nmatched, ldt ? "" : ", flat segments", through_jit ? ", through the translator" : "");
    failures = run_cases(seed, start, cases, matched, nmatched, ldt, filter, verbose, max_print,
                         only_case != UINT64_MAX, fails, faults);
    if (failures < 0) {
        status = 1;
        goto out_native;
    }
    printf("difftest: %" PRIu64 " cases, %" PRId64 " differ; faults that agree:", cases - start,
           failures);
    for (int v = 0; v < 32; v++)
        if (faults[v])
            printf(" %s %" PRIu64, vector_name(v), faults[v]);
    printf("\n");
    if (failures) {
        printf("difftest: forms that differ (failures/cases are per form):\n");
        for (int f = 0; f < dt_form_count(); f++)
            if (fails[f])
                printf("  %-24s %d\n", dt_form_name(f), fails[f]);
        printf("difftest: FAILED with seed 0x%" PRIx64 "%s\n", seed, ldt ? "" : " (-F)");
    }
    status = failures ? 1 : 0;
out_native:
    if (emu_up)
        emu_side_exit();
    native_stop();
out:
    free(matched);
    free(fails);
    return status;
}
