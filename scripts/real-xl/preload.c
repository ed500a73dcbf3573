/*
 * LD_PRELOAD library that lets Debian's xl 4.17 run on a machine without Xen, for tests only.
 *
 * xl allocates its libxl context (which opens the hypervisor and xenstore) before it does
 * anything else, so without Xen even `xl -N create` (a dry run that only parses the config and
 * prints the libxl domain config as JSON) dies with "cannot init xl context". This library:
 *   - hands libxl inert handles for the hypervisor interface and xenstore, and answers the few
 *     host queries the config parser makes (CPU and NUMA node counts) with a fixed small host;
 *   - serves xl's global config, /etc/xen/xl.conf, from $DOMAINMGR_REAL_XL_CONF instead, so the
 *     host's /etc is neither read nor needed and no root or mount namespace is required.
 * Anything that really talks to Xen still fails (the handles are not usable), which is the point:
 * only the parser and the dry run are trusted.
 *
 * Host shape: $DOMAINMGR_REAL_XL_NR_CPUS CPUs (default 8), one NUMA node.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XL_GLOBAL_CONFIG "/etc/xen/xl.conf"

/* Opaque stand-ins: libxl only stores these pointers and hands them back to the calls below. */
static long fake_xc_handle[64];
static long fake_xs_handle[64];

void *xc_interface_open(void *logger, void *dombuild_logger, unsigned open_flags)
{
    (void)logger; (void)dombuild_logger; (void)open_flags;
    return fake_xc_handle;
}

int xc_interface_close(void *xch) { (void)xch; return 0; }

void *xs_open(unsigned long flags) { (void)flags; return fake_xs_handle; }

void xs_close(void *xsh) { (void)xsh; }

static int host_cpus(void)
{
    const char *s = getenv("DOMAINMGR_REAL_XL_NR_CPUS");
    int n = s ? atoi(s) : 0;
    return n > 0 ? n : 8;
}

int xc_get_max_cpus(void *xch) { (void)xch; return host_cpus(); }

int xc_get_online_cpus(void *xch) { (void)xch; return host_cpus(); }

int xc_get_max_nodes(void *xch) { (void)xch; return 1; }

/*
 * xc_physinfo_t as of XEN_SYSCTL_INTERFACE_VERSION 0x15 (Xen 4.17), which is what the Debian
 * binary was built against. Only the leading fields are ours to fill; the caller owns the memory.
 */
struct physinfo_v15 {
    uint32_t threads_per_core, cores_per_socket, nr_cpus, max_cpu_id, nr_nodes, max_node_id;
    uint32_t cpu_khz, capabilities, arch_capabilities, pad;
    uint64_t total_pages, free_pages, scrub_pages, outstanding_pages, max_mfn;
    uint32_t hw_cap[8];
};

/* Capability bits: hvm, pv, hvm_directio, hap, shadow, gnttab_v1. */
#define FAKE_PHYSCAP (0x1fu | (1u << 8))

int xc_physinfo(void *xch, struct physinfo_v15 *info)
{
    (void)xch;
    int cpus = host_cpus();
    memset(info, 0, sizeof *info);
    info->threads_per_core = 1;
    info->cores_per_socket = (uint32_t)cpus;
    info->nr_cpus = (uint32_t)cpus;
    info->max_cpu_id = (uint32_t)cpus - 1;
    info->nr_nodes = 1;
    info->cpu_khz = 2000000;
    info->capabilities = FAKE_PHYSCAP;
    info->total_pages = 4u << 20;  /* 16 GiB of 4 KiB pages */
    info->free_pages = 2u << 20;
    info->max_mfn = (4u << 20) - 1;
    return 0;
}

/* Memory-sharing counters libxl_get_physinfo also asks for: no sharing on this fake host. */
long xc_sharing_freed_pages(void *xch) { (void)xch; return 0; }

long xc_sharing_used_frames(void *xch) { (void)xch; return 0; }

typedef FILE *(*fopen_fn)(const char *, const char *);

static FILE *redirected_fopen(const char *sym, const char *path, const char *mode)
{
    fopen_fn real = (fopen_fn)dlsym(RTLD_NEXT, sym);
    if (path && strcmp(path, XL_GLOBAL_CONFIG) == 0) {
        const char *conf = getenv("DOMAINMGR_REAL_XL_CONF");
        if (conf && *conf)
            path = conf;
    }
    return real(path, mode);
}

FILE *fopen(const char *path, const char *mode) { return redirected_fopen("fopen", path, mode); }

FILE *fopen64(const char *path, const char *mode) { return redirected_fopen("fopen64", path, mode); }
