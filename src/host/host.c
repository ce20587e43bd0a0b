/* `vx86 host` and the question `--engine auto` asks of the host. */
#include "host/host.h"

#include <stdlib.h>
#include <string.h>

#include "host/probe.h"
#include "util/log.h"
#include "vm/vm.h"

bool host_kvm_hw_backed(char *why, size_t len)
{
    struct host_cpu cpu;
    struct host_kvm kvm;

    host_probe_cpu(&cpu);
    host_probe_kvm(&kvm, &cpu);
    snprintf(why, len, "%s", kvm.why);
    return host_kvm_is_hw(&kvm);
}

void host_probe(struct host_facts *facts)
{
    facts->root = host_root();
    host_probe_cpu(&facts->cpu);
    host_probe_cpuid(&facts->cpuid);
    host_probe_kvm(&facts->kvm, &facts->cpu);
    host_probe_iommu(&facts->iommu);
    host_probe_sriov(&facts->sriov);
}

void host_facts_free(struct host_facts *facts)
{
    if (facts->iommu.nunits > 0)
        host_freedir(facts->iommu.unit, facts->iommu.nunits);
    free(facts->sriov.dev);
}

int host_main(int argc, char **argv)
{
    struct host_facts facts;
    bool json = false;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: vx86 host [--json]    what this host offers for virtualization");
            return VX86_OK;
        } else {
            log_err("host: %s: unknown option (usage: vx86 host [--json])", argv[i]);
            return VX86_EBADINPUT;
        }
    }
    host_probe(&facts);
    if (json)
        host_report_json(stdout, &facts);
    else
        host_report_text(stdout, &facts);
    host_facts_free(&facts);
    return VX86_OK;
}
