/* The dyno init is built into hsup (the Makefile builds init/dyno-init.c first, static, and
 * this file's object takes its bytes with .incbin) and handed to the runtime as a sealed
 * memfd, rather than installed beside hsup and found through /proc/self/exe:
 * - one file to install, and the init always of the same build as the hsup that runs it;
 * - nothing on disk for anyone to replace or modify between two dyno starts, and nothing a
 *   container could write through /proc/<pid>/exe: the memfd is sealed against writes,
 *   growing and shrinking (the runc CVE-2019-5736 defence);
 * - it costs the init's size (about 50 kB) in hsup's file, not in its memory until the first
 *   container starts. */
#define _GNU_SOURCE
#include "drivers/dynoinit.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef HS_DYNOINIT_PATH
#define HS_DYNOINIT_PATH "build/hsup-init"
#endif

__asm__(".section .rodata\n"
        ".balign 16\n"
        "hs_dynoinit_start:\n"
        ".incbin \"" HS_DYNOINIT_PATH "\"\n"
        "hs_dynoinit_end:\n"
        ".previous\n");
extern const unsigned char hs_dynoinit_start[], hs_dynoinit_end[];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int shared_fd = -1;

const unsigned char *hs_dynoinit_blob(size_t *len)
{
	*len = (size_t)(hs_dynoinit_end - hs_dynoinit_start);
	return hs_dynoinit_start;
}

static int create_memfd(cm_err *err)
{
	/* MFD_EXEC: kernels with vm.memfd_noexec want it said; older ones refuse the flag. */
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	_cleanup_close_ int fd = memfd_create("hsup-dyno-init", flags | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("hsup-dyno-init", flags);
	if (fd < 0)
		return cm_err_sys(err, "dyno init: memfd_create");
	size_t len;
	const unsigned char *blob = hs_dynoinit_blob(&len);
	if (cm_write_all(fd, blob, len) < 0)
		return cm_err_sys(err, "dyno init: write the memfd");
	if (fchmod(fd, 0555) < 0)
		return cm_err_sys(err, "dyno init: chmod the memfd");
	int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
	if (fcntl(fd, F_ADD_SEALS, seals) < 0)
		return cm_err_sys(err, "dyno init: seal the memfd");
	/* Read-only from here: exec refuses a file that some fd has open for writing (ETXTBSY). */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int ro = open(proc, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return cm_err_sys(err, "dyno init: reopen the memfd read-only through %s", proc);
	return ro;
}

int hs_dynoinit_fd(cm_err *err)
{
	pthread_mutex_lock(&lock);
	if (shared_fd < 0)
		shared_fd = create_memfd(err);
	int fd = shared_fd < 0 ? -1 : fcntl(shared_fd, F_DUPFD_CLOEXEC, 3);
	if (shared_fd >= 0 && fd < 0)
		cm_err_sys(err, "dyno init: dup the memfd");
	pthread_mutex_unlock(&lock);
	return fd;
}
