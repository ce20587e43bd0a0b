"""docs/benchmarks.md and its chart from bench/run's results.

data[kind][column] is either an NA (why the column does not apply or
failed) or the list of per-round results, aligned by round: entry i of every
column of a kind comes from the same round, so ratios are taken pairwise.
"""
import math
import statistics
import subprocess
import tempfile
from pathlib import Path

# Adams & Agesen, ASPLOS 2006, the nanobenchmark figure: cycles on a 3.8 GHz
# Pentium 4 672. None: no figure given.
PAPER = {
    "syscall": (None, "native + ~2000", None),
    "in": (3209, None, 15826),
    "cr8wr": (None, 35, None),
    "callret": (11, 51, 11),
    "pgfault": (1093, 3927, 11242),
    "divzero": (889, 3223, 1014),
    "ptemod": (1, 391, 12733),
}

NANO_DOC = {
    "loop": "the empty timed loop (DEC + JNZ): the overhead inside every other row",
    "callret": "CALL to a RET, at CPL 0",
    "syscall": "SYSCALL from CPL 3 to a null handler, SYSRET back",
    "int80": "INT 0x80 from CPL 3 through a DPL-3 gate to a null handler, IRETQ back",
    "in": "IN from port 0x80 (vx86: the POST port; QEMU microvm: no device, an unassigned port)",
    "out": "OUT to port 0x80 (an exit to the VMM on kvm engines)",
    "cr8wr": "MOV to CR8 (the task priority)",
    "pgfault": "a load from a not-present page: #PF, the handler reads CR2 and resumes after it",
    "divzero": "DIV by zero: #DE, the handler resumes after it",
    "ptemod": "a PTE write (alternating frames), INVLPG, then a load through the new PTE",
}

COLS = ["vx86-emu", "vx86-kvm", "qemu-tcg", "qemu-kvm", "qemu-tcg-pc", "native"]
TITLES = {"vx86-emu": "vx86 emu", "vx86-kvm": "vx86 kvm", "qemu-tcg": "QEMU TCG",
          "qemu-kvm": "QEMU KVM", "qemu-tcg-pc": "QEMU TCG pc", "native": "native"}


def is_na(v):
    return isinstance(v, Exception)


def fmt(x, digits=3):
    if x is None:
        return "?"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{max(0, digits - 1 - math.floor(math.log10(a)))}f}"


def stat(values, digits=3, unit=""):
    """median (min–max) of values; the median alone for a single value."""
    if not values:
        return "?"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{fmt(med, digits)}{unit}"
    return f"{fmt(med, digits)}{unit} ({fmt(min(values), digits)}–{fmt(max(values), digits)})"


def na_cell(v):
    return f"n/a ({v})"


def series(rounds, key):
    return [r[key] for r in rounds]


def ratios(a_rounds, b_rounds, key):
    """a/b per round: the rounds are aligned."""
    return [a[key] / b[key] for a, b in zip(a_rounds, b_rounds) if b[key]]


def host_section(host, args, cmd, ctx):
    hw = "hardware-backed" if host["kvm_hw"] else "**software-backed**"
    lines = [
        "## Host",
        "",
        f"- CPU: {host['cpu_model']}, {host['cpus']} CPU(s) (shared with other users: "
        "timings are noisy, hence the min–max ranges and ratios taken within a round)",
        f"- KVM: {hw if host['kvm_present'] else 'absent'} — {host['kvm_why']}",
        f"- host TSC: {host['host_tsc_hz'] / 1e9:.3f} GHz (calibrated against "
        "CLOCK_MONOTONIC by bench/nano/native)",
        f"- host kernel {host['kernel']}; {host['qemu']}",
        f"- guest: Debian kernel {host['guest_kernel']}, busybox initramfs "
        "(scripts/build-initramfs; the cpu benchmark's copy adds /bench/cpubench)",
        f"- vx86 commit {host['commit']}, run {host['date']}, "
        f"{args.warmup} warm-up round(s) + {args.runs} measured round(s), "
        f"{args.iters} nanobenchmark iterations, {host['elapsed_s'] / 60:.1f} min in all",
        "",
        f"Reproduce: `{cmd}` (from the repository root; it builds what it needs). "
        "Each cell: median (min–max) over the measured rounds.",
        "",
    ]
    return lines


def boot_section(d, host):
    # Results saved before the QEMU columns moved to microvm lack the key.
    extra = host.get("microvm_linux_args", "reboot=t tsc_early_khz=(host TSC kHz) tsc=reliable")
    out = ["## 1. Boot: Linux to init and to the end", "",
           "Wall time from spawning the VMM process to the first line /init prints "
           "(`vx86-initramfs: Linux ...`) and to the process's end, for the default guest: "
           "`console=ttyS0 quiet vx86.run=\"true\" vx86.end=reboot`, 256 MiB, 1 vCPU. "
           "QEMU TCG and QEMU KVM are `-M microvm -no-reboot`, whose guest command line adds "
           f"`{extra}` (KVM: `reboot=t` only; the notes say why microvm needs them); "
           "QEMU TCG pc is `-M pc -no-reboot` with the command line unchanged, a second "
           "reference. *VMM RSS at init*: the process's resident memory when that line "
           "arrives, less the guest RAM and (vx86) the second mapping of its code cache; "
           "*code cache*: the emu translator's, of that (QEMU's TCG buffer is in its RSS, "
           "not told apart).", "",
           "| column | to init (s) | to end (s) | VMM RSS at init (MiB) | code cache (MiB) |",
           "| --- | --- | --- | --- | --- |"]

    def mib(rounds, key):
        vals = [r[key] / 1024 for r in rounds if r.get(key) is not None]
        return stat(vals) if vals else "n/a"

    for col in COLS:
        if col not in d:
            continue
        v = d[col]
        if is_na(v):
            out.append(f"| {TITLES[col]} | {na_cell(v)} | | | |")
        else:
            out.append(f"| {TITLES[col]} | {stat(series(v, 'init'))} | {stat(series(v, 'end'))} "
                       f"| {mib(v, 'vmm_kb')} | {mib(v, 'jit_kb')} |")
    for a, b in (("vx86-emu", "qemu-tcg"), ("vx86-kvm", "qemu-kvm"), ("vx86-emu", "qemu-tcg-pc")):
        if a in d and b in d and not is_na(d[a]) and not is_na(d[b]) and d[a]:
            out.append("")
            out.append(f"{TITLES[a]} / {TITLES[b]}, per round: to init "
                       f"{stat(ratios(d[a], d[b], 'init'))}×, to end "
                       f"{stat(ratios(d[a], d[b], 'end'))}×.")
    return out + [""]


def cpu_table(d, ctx, parts):
    out = ["## 2. CPU throughput: guest time / native time", "",
           "bench/cpu/cpubench (one static binary, gcc -O2) natively and inside the Linux "
           "guest (`vx86.run=\"/bench/cpubench 1\"`). Parts are timed by the program's own "
           "CLOCK_MONOTONIC; *whole* is the host's view: the time between the lines "
           "`cpu begin` and `cpu total` arriving on the VMM's stdout. Each guest cell is "
           "guest time / native time of the same round; the native column is seconds.", ""]
    cols = [c for c in COLS if c in d]
    out.append("| part | " + " | ".join(TITLES[c] for c in cols) + " |")
    out.append("| --- " * (len(cols) + 1) + "|")
    native = d.get("native")
    for part in parts + ["wall"]:
        row = ["whole (host-timed)" if part == "wall" else part]
        for c in cols:
            v = d[c]
            if is_na(v):
                row.append(na_cell(v) if part == parts[0] else "")
            elif c == "native":
                row.append(stat(series(v, part), unit=" s"))
            elif native is None or is_na(native):
                row.append(stat(series(v, part), unit=" s"))
            else:
                row.append(stat(ratios(v, native, part), unit="×"))
        out.append("| " + " | ".join(row) + " |")
    ref = ctx.cpu_checks.get("native")
    same = [TITLES[c] for c, chk in ctx.cpu_checks.items() if c != "native" and chk == ref]
    diff = [TITLES[c] for c, chk in ctx.cpu_checks.items() if c != "native" and chk != ref]
    out.append("")
    if same:
        out.append(f"Results (digests) identical to native: {', '.join(same)}.")
    if diff:
        out.append(f"**Results differ from native**: {', '.join(diff)}.")
    return out + [""]


def nano_section(d, host):
    out = ["## 3. Nanobenchmarks (Adams & Agesen, ASPLOS 2006)", "",
           "bench/nano: one multiboot guest (its own GDT, IDT, TSS, 4-level paging and a CPL 3), "
           "the same file on every column; the command line picks the operation. It runs the "
           "operation n/10 times to warm up, then n times between two RDTSCs; handlers count "
           "their entries and a run that did not enter its handler once per iteration gets no "
           "number. Cells: ns per operation, median (min–max), then TSC cycles per operation "
           "(median). ns come from the TSC frequency that CPUID 0x15 states in the guest "
           "(vx86 emu: 1 GHz) or else the host's TSC frequency (QEMU, KVM: the guest reads "
           "the host TSC). The paper's columns are cycles on a 3.8 GHz Pentium 4 (2006): "
           "native, software VMM (VMware's binary translator), hardware VMM (first-generation "
           "VT-x).", ""]
    cols = [c for c in COLS if c in d]
    out.append("| operation | paper native | paper BT | paper VT-x | "
               + " | ".join(TITLES[c] for c in cols) + " |")
    out.append("| --- " * (len(cols) + 4) + "|")
    names = None
    for c in cols:
        if not is_na(d[c]) and d[c]:
            names = list(d[c][0].keys())
            break
    for name in names or []:
        p = PAPER.get(name, (None, None, None))
        row = [f"{name}"] + [str(x) if x is not None else "" for x in p]
        for c in cols:
            v = d[c]
            if is_na(v):
                row.append(na_cell(v))
                continue
            cells = [r[name] for r in v]
            bad = [x for x in cells if is_na(x)]
            if bad:
                why = str(bad[0])
                if c.endswith("-kvm") and not host["kvm_hw"]:
                    why += "; software-backed KVM (PVM)"
                row.append(na_cell(why))
                continue
            row.append(f"{stat([x['ns'] for x in cells])} ns · "
                       f"{fmt(statistics.median(x['cycles'] for x in cells))} cyc")
        out.append("| " + " | ".join(row) + " |")
    out += ["", "What each row does:", ""]
    out += [f"- **{n}**: {NANO_DOC[n]}" for n in (names or [])]
    out.append("- native: the host's own user mode (bench/nano/native): loop, callret, and "
               "syscall as a round trip into the host's Linux (an unknown system call "
               "number, -ENOSYS). The other operations need CPL 0, and the host kernel is "
               "not ours to run them in.")
    if not host["kvm_hw"]:
        out.append("- On this host's software-backed KVM (PVM) the guest's CPL-0 code is "
                   "emulated by the host kernel, so the kvm columns time PVM's emulator, not "
                   "VT-x/AMD-V; PVM also mishandles SYSCALL and INT n from CPL 3 "
                   "(tests/integration/test_guests.py lists it).")
    return out + [""]


def overhead_section(d):
    out = ["## 4. VMM overhead", "",
           "The nanobenchmark guest with `bench=idle` (prints, then halts with interrupts off), "
           "128 MiB of guest RAM. *VMM RSS*: the process's resident memory "
           "(/proc/PID/smaps) minus the resident part of the guest-RAM mapping (the mapping "
           "of exactly the RAM size: vx86's memfd, QEMU's RAM block), sampled 0.3 s after "
           "the guest went idle. *First output*: process spawn to the guest's first byte on "
           "the serial port (its first instructions write it, before paging is on), as the "
           "host sees it on the VMM's stdout. *Boot timer*: vx86's own record of the same "
           "moment (`--verbose`: the guest's first instruction writes 123 to port 0x440, "
           "Firecracker's boot-timer convention). QEMU's figures include its firmware's run "
           "(microvm: qboot).", "",
           "| column | VMM RSS (MiB) | guest RAM touched (MiB) | first output (ms) | "
           "boot timer (ms) |",
           "| --- | --- | --- | --- | --- |"]
    for col in COLS:
        if col not in d:
            continue
        v = d[col]
        if is_na(v):
            out.append(f"| {TITLES[col]} | {na_cell(v)} | | | |")
            continue
        timer = [r["timer_ms"] for r in v if r["timer_ms"] is not None]
        out.append(f"| {TITLES[col]} | {stat([r['vmm_kb'] / 1024 for r in v])} | "
                   f"{stat([r['guest_kb'] / 1024 for r in v])} | "
                   f"{stat(series(v, 'first_ms'))} | "
                   f"{stat(timer) if timer else 'n/a (no boot-timer device)'} |")
    for a, b in (("vx86-emu", "qemu-tcg"), ("vx86-kvm", "qemu-kvm")):
        if a in d and b in d and not is_na(d[a]) and not is_na(d[b]) and d[a]:
            out.append("")
            out.append(f"{TITLES[a]} / {TITLES[b]}, per round: VMM RSS "
                       f"{stat(ratios(d[a], d[b], 'vmm_kb'))}×, first output "
                       f"{stat(ratios(d[a], d[b], 'first_ms'))}×.")
    return out + [""]


def exit_section(d, host):
    out = ["## 5. Exit cost on the kvm engine", "",
           "Round trips per second of a guest port access that exits to the VMM (the "
           "nanobenchmarks `out` and `in` on port 0x80), vx86's kvm engine against QEMU with "
           "KVM, the same guest.", ""]
    a, b = d.get("vx86-kvm"), d.get("qemu-kvm")
    rows = []
    for col, v in (("vx86-kvm", a), ("qemu-kvm", b)):
        if v is None:
            continue
        if is_na(v):
            rows.append(f"| {TITLES[col]} | {na_cell(v)} | |")
            continue
        cells = []
        for name in ("out", "in"):
            rs = [r[name] for r in v]
            if any(is_na(x) for x in rs):
                cells.append(na_cell(next(x for x in rs if is_na(x))))
            else:
                cells.append(stat([1e9 / x["ns"] for x in rs], unit="/s"))
        rows.append(f"| {TITLES[col]} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    out += ["| column | OUT round trips | IN round trips |", "| --- | --- | --- |"] + rows
    if a and b and not is_na(a) and not is_na(b):
        for name in ("out", "in"):
            pa, pb = [r[name] for r in a], [r[name] for r in b]
            if not any(is_na(x) for x in pa + pb):
                rt = [y["ns"] / x["ns"] for x, y in zip(pa, pb)]
                out.append("")
                out.append(f"vx86 kvm / QEMU KVM {name.upper()} round trips per second, per "
                           f"round: {stat(rt)}×.")
    if not host["kvm_hw"]:
        out += ["", "KVM here is software-backed (PVM): each round trip includes PVM's "
                "emulation of the guest's CPL-0 loop, so these figures are far from what "
                "VT-x/AMD-V gives; the vx86/QEMU ratio is still like for like."]
    return out + [""]


def notes(host):
    out = ["## Notes", "",
           "- Same kernel, initramfs, guest binaries and machine for every column. A round "
           "measures every column once, back to back; ratios are taken within a round, so "
           "that the load other users put on the machine cancels as far as it can.",
           "- QEMU runs every guest on `-M microvm`, the machine closest to vx86's minimal PC "
           "(section 1 adds `-M pc`). Linux on microvm gets three parameters more than on "
           "vx86 (bench/run's microvm_linux_args): `reboot=t`, as QEMU's microvm documentation "
           "recommends (microvm has no i8042, and Linux's other reset methods end in a jump "
           "to qboot's reset vector, which hangs in some boots), and under TCG "
           "`tsc_early_khz=` the host's TSC rate (which TCG's RDTSC reads) and `tsc=reliable`. "
           "A TCG guest cannot learn the TSC rate from QEMU (no CPUID 0x15, no kvmclock), "
           "microvm has no HPET or ACPI PM timer to measure it against, and its "
           "hardware-reduced ACPI gives Linux no PIT tick: when the PIT calibration fails "
           "(11 of 16 boots below), the delay-loop calibration waits for a tick forever. "
           "Without `tsc=reliable` the clocksource watchdog, whose only reference is jiffies "
           "(late under TCG), marked the TSC unstable in 5 of 5 boots and Linux ran on a "
           "4 ms jiffies clock. vx86's guest gets the TSC rate from CPUID 0x15 and "
           "kvmclock, pc's from its HPET; both end up on the TSC clocksource, as microvm's "
           "does with these parameters.",
           "- Boots of Linux on QEMU TCG microvm that hung (a 30–60 s timeout per boot), "
           "counted on this project's shared 2-CPU machine while the configuration was "
           "chosen: without `tsc_early_khz`, 11 of 16 in the delay-loop calibration (3 of 6 "
           "as is, 4 of 4 with debug output on the console, 4 of 6 with `reboot=t`); "
           "`tsc_early_khz` alone, 0 of 28 in the boot but 5 of 28 in the reset (8 of the "
           "28 with debug output); that plus `-device i8042`, 1 of 10 "
           "in the reset; `tsc_early_khz reboot=t`, 0 of 25 (10 of them beside two busy "
           "loops); all three, 0 of 20 (5 beside two busy loops). Set aside: "
           "`-M microvm,acpi=off` (a PIT tick, so no hang with `reboot=t`, 0 of 8, but the "
           "TSC was never calibrated and Linux ran on jiffies) and `-icount shift=auto` "
           "(0 of 5, TSC calibrated, but TCG 2–3× slower than as users run it). A hang in "
           "a run of this suite shows as a cell n/a (timed out).",
           "- Every Linux guest ends with `reboot -f`, a reset (vx86 exits, QEMU exits with "
           "`-no-reboot`), so that *to end* is the time to that exit. Linux resets vx86 and "
           "pc through ACPI's reset register or the i8042, microvm by a triple fault "
           "(`reboot=t`).",
           "- Nothing is cached across runs that a user would not get: every run is a fresh "
           "process; the host's page cache holds the kernel and initramfs after the warm-up, "
           "as it would for a user booting twice.",
           "- A cell says n/a with the reason where a column does not apply here or failed "
           "(`build/bench/logs/` keeps the latest output of each run)."]
    if not host["kvm_hw"]:
        out.append("- KVM here is software-backed (PVM, no VT-x/AMD-V): Linux does not boot on "
                   "it in useful time, so the kvm columns of sections 1 and 2 are n/a; the "
                   "small guests do run on it, with their CPL-0 code emulated by the host "
                   "kernel. On a host with hardware-backed KVM the same command fills those "
                   "columns.")
    return out + [""]


def chart(path, data):
    """A PNG with gnuplot: boot, CPU slowdown, nanobenchmarks, VMM RSS."""
    tmp = Path(tempfile.mkdtemp(prefix="vx86-bench-"))
    panels = []

    def med(vals):
        return statistics.median(vals) if vals else None

    def write(name, rows):
        f = tmp / name
        f.write_text("".join(" ".join(f'"{x}"' if isinstance(x, str) else
                                      ("?" if x is None else f"{x:.6g}") for x in r) + "\n"
                             for r in rows))
        return f

    if "boot" in data:
        rows = []
        for c in COLS:
            v = data["boot"].get(c)
            if v is not None and not is_na(v) and v:
                rows.append((TITLES[c], med(series(v, "init")), med(series(v, "end"))))
        if rows:
            f = write("boot.dat", rows)
            panels.append(f"set title 'Linux boot (s, log)'\nset logscale y\n"
                          f"plot '{f}' using 2:xtic(1) title 'to init', '' using 3 title 'to end'")
    if "cpu" in data and not is_na(data["cpu"].get("native", ValueError())):
        nat = data["cpu"]["native"]
        rows = []
        for c in COLS[:-1]:
            v = data["cpu"].get(c)
            if v is not None and not is_na(v) and v:
                rows.append((TITLES[c], med(ratios(v, nat, "wall")), med(ratios(v, nat, "interp")),
                             med(ratios(v, nat, "nbody"))))
        if rows:
            f = write("cpu.dat", rows)
            panels.append(f"set title 'CPU: guest time / native (log)'\nset logscale y\n"
                          f"plot '{f}' using 2:xtic(1) title 'whole', '' using 3 title 'interp',"
                          f" '' using 4 title 'nbody'")
    if "nano" in data:
        cols = [c for c in COLS if c in data["nano"] and not is_na(data["nano"][c])
                and data["nano"][c]]
        names = list(data["nano"][cols[0]][0].keys()) if cols else []
        rows = []
        for n in names:
            row = [n]
            for c in cols:
                cells = [r[n] for r in data["nano"][c]]
                row.append(None if any(is_na(x) for x in cells) else med([x["ns"] for x in cells]))
            rows.append(row)
        if rows:
            f = write("nano.dat", rows)
            plots = []
            for i, c in enumerate(cols):
                src = repr(str(f)) if i == 0 else "''"
                tic = ":xtic(1)" if i == 0 else ""
                plots.append(f"{src} using {i + 2}{tic} title '{TITLES[c]}'")
            plots = ", ".join(plots)
            panels.append(f"set title 'Nanobenchmarks (ns per op, log)'\nset logscale y\n"
                          f"set key outside right top\nset xtics rotate by -30\nplot {plots}\n"
                          "set xtics norotate\nset key inside top left")
    if "overhead" in data:
        rows = []
        for c in COLS:
            v = data["overhead"].get(c)
            if v is not None and not is_na(v) and v:
                rows.append((TITLES[c], med([r["vmm_kb"] / 1024 for r in v]),
                             med(series(v, "first_ms"))))
        if rows:
            f = write("overhead.dat", rows)
            panels.append(f"set title 'VMM overhead'\nunset logscale y\n"
                          f"plot '{f}' using 2:xtic(1) title 'RSS (MiB)', "
                          f"'' using 3 title 'first output (ms)'")
    if not panels:
        return False
    ncols = 2 if len(panels) > 1 else 1
    nrows = (len(panels) + ncols - 1) // ncols
    script = (f"set terminal pngcairo size {700 * ncols},{420 * nrows} font 'sans,9'\n"
              f"set output '{path}'\nset datafile missing '?'\nset style data histograms\n"
              "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
              "set key top left\nset grid ytics\n"
              f"set multiplot layout {nrows},{ncols}\n"
              + "\n".join("unset logscale y\n" + p for p in panels) + "\nunset multiplot\n")
    (tmp / "chart.gp").write_text(script)
    r = subprocess.run(["gnuplot", str(tmp / "chart.gp")], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"bench: gnuplot failed: {r.stderr}")
    return True


def write(path, data, host, ctx, args, cmd, cpu_parts):
    png = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# vx86 benchmarks", "",
             "vx86 against QEMU and native, side by side, on one machine in one run "
             "(issue 7). Written by `bench/run`, section 6 by `bench/user/run`, section 7 by "
             "`bench/image/run`; do not edit by hand.", ""]
    lines += host_section(host, args, cmd, ctx)
    if chart(png, data):
        lines += [f"![benchmark chart]({png.name})", ""]
    if "boot" in data:
        lines += boot_section(data["boot"], host)
    if "cpu" in data:
        lines += cpu_table(data["cpu"], ctx, cpu_parts)
    if "nano" in data:
        lines += nano_section(data["nano"], host)
    if "overhead" in data:
        lines += overhead_section(data["overhead"])
    if "nano" in data:
        lines += exit_section(data["nano"], host)
    lines += kept_section(path, USER_BEGIN, USER_END)
    lines += kept_section(path, IMAGE_BEGIN, IMAGE_END)
    lines += notes(host)
    path.write_text("\n".join(lines).rstrip() + "\n")


# Section 6 comes from bench/user/run, a run of its own: bench/run keeps it
# between these markers when it rewrites the rest of the file.
USER_BEGIN = "<!-- section 6: bench/user/run writes it -->"
USER_END = "<!-- end of section 6 -->"


# Section 7 comes from bench/image/run, kept the same way.
IMAGE_BEGIN = "<!-- section 7: bench/image/run writes it -->"
IMAGE_END = "<!-- end of section 7 -->"


def kept_section(path, begin, end):
    """The lines between markers begin and end in the report at path,
    markers included; [] when it has none."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    if begin not in lines or end not in lines:
        return []
    return lines[lines.index(begin):lines.index(end) + 1] + [""]


def user_section(saved):
    """Section 6 from the results bench/user/run saved."""
    host, data, works = saved["host"], saved["data"], saved["workloads"]
    cols = [c for c in COLS if c in data]
    ok = {c: v for c, v in data.items() if isinstance(v, list) and v}
    ref = "vx86-emu"
    others = [c for c in cols if c != ref and c in ok and ref in ok]
    out = [USER_BEGIN, "## 6. User-mode work in the Linux guest", "",
           f"Written by `{saved['cmd']}` (a run of its own, not part of `bench/run`) on "
           f"{host['date']}: vx86 commit {host['commit']}, {host['cpu_model']}, "
           f"{host['cpus']} CPU(s), {host['qemu']}, {saved['args']['warmup']} warm-up "
           f"round(s) + {saved['args']['runs']} measured round(s), "
           f"{host['elapsed_s'] / 60:.1f} min in all" +
           (f", the host's load average {host['loadavg'][0]:.1f} at the start and "
            f"{host['loadavg'][1]:.1f} at the end." if "loadavg" in host else ".")]
    if saved.get("note"):
        out += ["", f"**{saved['note']}**"]
    out += ["",
            "The default guest of section 1 (Debian's kernel, the busybox initramfs with "
            "bench/user/user.sh added as /bench/user.sh, 256 MiB, 1 vCPU) runs "
            "`vx86.run=\"sh /bench/user.sh\"`: busybox's own programs on files in tmpfs, "
            "inputs made inside the guest by awk from a counter (25,000 lines of a linear "
            "congruential sequence, 0.53 MB, and four copies of them, 2.1 MB). Each piece is "
            "timed inside the guest by CLOCK_MONOTONIC (the `now at` line of "
            "/proc/timer_list, read by the shell's builtin `read`), so the boot is not "
            "counted. QEMU TCG is `-M microvm` with section 1's extra Linux parameters, "
            "QEMU TCG pc `-M pc`. Cells: seconds, median (min–max) over the rounds; the "
            "ratios are vx86 / QEMU of the same round, median (min–max). *whole* is the "
            "span from the first piece to the last, by the guest's clock and by the host's "
            "(the arrival of the lines `user begin` and `user whole` on the VMM's stdout), "
            "which shows that the guest's clock keeps time.", ""]
    head = ["work"] + [TITLES[c] + " (s)" for c in cols] + \
        [f"{TITLES[ref]} / {TITLES[c]}" for c in others]
    out += ["| " + " | ".join(head) + " |", "| --- " * len(head) + "|"]
    rows = list(works) + ["whole", "whole-host"]
    for name in rows:
        label = {"whole": "whole (guest clock)", "whole-host": "whole (host clock)"}.get(
            name, name)
        row = [label]
        for c in cols:
            v = data[c]
            if not isinstance(v, list):
                row.append(na_cell(v["na"]) if name == rows[0] else "")
            else:
                row.append(stat(series(v, name)))
        for c in others:
            row.append(stat(ratios(ok[ref], ok[c], name), unit="×"))
        out.append("| " + " | ".join(row) + " |")
    out += ["", "What each row does:", ""]
    out += [f"- **{n}**: {d}" for n, d in works.items()]
    checks = saved["checks"]
    runs = [chk for col in checks for chk in checks[col]]
    out.append("")
    if runs and all(chk == runs[0] for chk in runs):
        out.append("Results (digests of every output, counts) identical in every boot of "
                   f"every column: {', '.join(TITLES[c] for c in checks)}.")
    else:
        out.append("**Results differ between boots or columns**: see "
                   "build/bench/user.json.")
    return out + [USER_END]


def write_user(path, saved):
    """Writes section 6 into the report at path: in place of the one there,
    else before the notes, else at the end. Returns the section's lines."""
    section = user_section(saved)
    lines = path.read_text().splitlines() if path.exists() else []
    if USER_BEGIN in lines and USER_END in lines:
        lines[lines.index(USER_BEGIN):lines.index(USER_END) + 1] = section
    elif "## Notes" in lines:
        at = lines.index("## Notes")
        lines[at:at] = section + [""]
    else:
        lines += [""] + section
    path.write_text("\n".join(lines).rstrip() + "\n")
    return section
