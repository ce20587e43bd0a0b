"""The Linux boot protocols on every engine, with stand-in kernels
(linux_images.py) that check their zero page / hvm_start_info, command line
and initrd from inside the guest. Booting the real kernel takes minutes on
PVM and is not part of the tests."""
from conftest import run_vx86
from linux_images import bzimage, initrd, vmlinux_pvh


def boot(engine, tmp_path, kernel, *args):
    k = tmp_path / "kernel"
    rd = tmp_path / "initrd.img"
    k.write_bytes(kernel)
    rd.write_bytes(initrd())
    return run_vx86("run", "--engine", engine, "--mem", "64M", "--kernel", k, "--initrd", rd,
                    "--cmdline", "test console=ttyS0", *args)


def test_bzimage_64bit_entry(engine, tmp_path):
    r = boot(engine, tmp_path, bzimage())
    assert r.status == 1, f"check {(r.status - 1) // 2} failed in the guest\n{r}"


def test_pvh_entry(engine, tmp_path):
    r = boot(engine, tmp_path, vmlinux_pvh())
    assert r.status == 1, f"check {(r.status - 1) // 2} failed in the guest\n{r}"
