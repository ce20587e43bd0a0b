"""Tiny stand-ins for a Linux kernel, built in Python: a bzImage (x86 boot
protocol, Documentation/arch/x86/boot.rst) and an ELF vmlinux with the PVH
note, whose code checks what the loader handed it and reports on the
debug-exit port: 0 (vx86 exit status 1) when all is well, else the number of
the failed check."""
import struct

INITRD_MAGIC = b"vx86"

# 64-bit entry (load address + 0x200), RSI = zero page:
#   edx = 1; "HdrS" at zp+0x202?  edx++; type_of_loader 0xff?
#   edx++; CS == 0x10?  edx++; DS == 0x18?
#   edx++; the command line at cmd_line_ptr starts with "test"?
#   edx++; the initrd at ramdisk_image starts with "vx86"?
#   edx++; and ends with "vx86" (ramdisk_size)?
#   edx = 0;  fail: out 0xf4, dl; hlt
BZ_CODE = bytes.fromhex(
    "ba0100000081be02020000486472537555ffc280be10020000ff754affc2668cc86683f810753fffc2"
    "668cd86683f8187534ffc28bbe28020000813f746573747524ffc28bbe18020000813f767838367514"
    "ffc28b8e1c020000817c0ffc76783836750231d289d0e6f4f4")

# PVH entry, 32-bit protected mode, EBX = hvm_start_info:
#   edx = 1; magic 0x336ec578?  edx++; modlist[0] starts with "vx86"?
#   edx++; the command line starts with "test"?  edx++; memmap_entries != 0?
#   edx = 0;  fail: out 0xf4, dl; hlt
PVH_CODE = bytes.fromhex(
    "ba01000000813b78c56e337523428b7b108b3f813f767838367515428b7b18813f74657374750942837b"
    "3000740231d289d0e6f4f4")

SETUP_SECTS = 4


def bzimage(version=0x020F, init_size=0x200000, pref=0x1000000, xloadflags=3,
            initrd_max=0x7FFFFFFF, setup_sects=SETUP_SECTS, kernel=None):
    """A bzImage: boot sector + setup code, then the protected-mode kernel:
    0x200 bytes of padding (startup_32 would be there) and BZ_CODE."""
    if kernel is None:
        kernel = bytes(0x200) + BZ_CODE
        kernel += bytes(-len(kernel) % 16)
    setup = bytearray((SETUP_SECTS + 1) * 512)
    setup[0x1F1] = setup_sects
    struct.pack_into("<I", setup, 0x1F4, len(kernel) // 16)  # syssize
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x200:0x202] = bytes([0xEB, 0x26C - 0x202])  # jump past the header
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    setup[0x211] = 0x01  # LOADED_HIGH
    struct.pack_into("<I", setup, 0x22C, initrd_max)
    struct.pack_into("<I", setup, 0x230, 0x200000)  # kernel_alignment
    setup[0x234] = 1  # relocatable
    struct.pack_into("<H", setup, 0x236, xloadflags)
    struct.pack_into("<I", setup, 0x238, 2047)  # cmdline_size
    struct.pack_into("<Q", setup, 0x258, pref)
    struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + kernel


def vmlinux_pvh(paddr=0x100000, memsz=0x1000):
    """An ELF64 vmlinux: PVH_CODE at paddr (the PVH entry), a PT_NOTE with
    Xen's XEN_ELFNOTE_PHYS32_ENTRY (18), and a virtual e_entry that would
    not do."""
    ehsize, phsize = 64, 56
    code_off = ehsize + 2 * phsize
    note = struct.pack("<III", 4, 8, 18) + b"Xen\0" + struct.pack("<Q", paddr)
    note_off = code_off + len(PVH_CODE)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0xFFFFFFFF81000000, ehsize, 0, 0,
                               ehsize, phsize, 2, 0, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 7, code_off, 0xFFFFFFFF81000000, paddr, len(PVH_CODE),
                       max(memsz, len(PVH_CODE)), 0x1000)
    notes = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    return ehdr + load + notes + PVH_CODE + note


def initrd(size=10000):
    body = bytes((i * 7) & 0xFF for i in range(max(size - 8, 0)))
    return INITRD_MAGIC + body + INITRD_MAGIC
