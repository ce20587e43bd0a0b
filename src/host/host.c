#include "host/host.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* True if the first "flags" line of /proc/cpuinfo lists flag. */
static bool cpu_has_flag(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    bool found = false;

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *save, *tok;

        if (strncmp(line, "flags", 5) != 0)
            continue;
        for (tok = strtok_r(strchr(line, ':') ? strchr(line, ':') + 1 : line, " \t\n", &save);
             tok; tok = strtok_r(NULL, " \t\n", &save))
            if (!strcmp(tok, flag))
                found = true;
        break;
    }
    fclose(f);
    return found;
}

bool host_kvm_hw_backed(char *why, size_t len)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    bool vmx = cpu_has_flag("vmx"), svm = cpu_has_flag("svm");

    if (fd < 0) {
        snprintf(why, len, "/dev/kvm cannot be opened");
        return false;
    }
    close(fd);
    if (!vmx && !svm) {
        snprintf(why, len, "/dev/kvm is software-backed: no vmx or svm in /proc/cpuinfo");
        return false;
    }
    snprintf(why, len, "/dev/kvm is hardware-backed: %s in /proc/cpuinfo", vmx ? "vmx" : "svm");
    return true;
}

int host_main(int argc, char **argv)
{
    char why[160];

    (void)argc;
    (void)argv;
    host_kvm_hw_backed(why, sizeof(why));
    printf("%s\n", why);
    return 0;
}
