/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dmirror, the HMM test device: the command numbers and argument struct of
 * the kernel's lib/test_hmm_uapi.h, reached through the dmirror module's
 * exports instead of /dev/hmm_dmirror<N> and ioctl(2):
 *
 *	dmirror_open_fn  open  = uhmm_symbol_get("dmirror_open");
 *	dmirror_ioctl_fn ioctl = uhmm_symbol_get("dmirror_ioctl");
 *	int fd = open(0);
 *	struct hmm_dmirror_cmd cmd = { .addr = ..., .ptr = ..., .npages = n };
 *	int ret = ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);	// 0 or -errno
 *
 * and dmirror_mmap() for mmap(2) of the device, dmirror_close() for close(2).
 */
#ifndef UHMM_HMM_DMIRROR_H
#define UHMM_HMM_DMIRROR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/ioctl.h>

/**
 * struct hmm_dmirror_cmd - the argument of every command
 * @addr: start of the range in the process, page aligned
 * @ptr: a buffer of @npages pages: data to write, or data read back
 *	(MIGRATE_TO_DEV with ptr 0, a uhmm addition, migrates without reading
 *	back and counts the pages in device memory in @cpages)
 * @npages: pages in the range
 * @cpages: (out) pages the command handled
 * @faults: (out) CPU page faults the device had to take
 */
struct hmm_dmirror_cmd {
	uint64_t addr;
	uint64_t ptr;
	uint64_t npages;
	uint64_t cpages;
	uint64_t faults;
};

#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_FLAGS		_IOWR('H', 0x08, struct hmm_dmirror_cmd)

/* HMM_DMIRROR_SNAPSHOT: one byte per page in cmd.ptr, the kernel's values */
enum {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
};

/* HMM_DMIRROR_FLAGS: cmd.npages holds the flags */
#define HMM_DMIRROR_FLAG_FAIL_ALLOC	(1ULL << 0)	/* the next device page allocation fails */

/* Devices 0 and 1 are device-private, as the kernel's are without spm_addr_*. */
#define HMM_DMIRROR_NR_DEVICES		2

/* Open device @index: a handle >= 0, or -ENODEV, -EMFILE, -ENOMEM. */
typedef int (*dmirror_open_fn)(int index);
/* Close a handle: 0 or -EBADF. */
typedef int (*dmirror_close_fn)(int fd);
/* Run @request on @cmd: 0 or a negative errno, as the kernel's ioctl returns. */
typedef int (*dmirror_ioctl_fn)(int fd, unsigned long request, struct hmm_dmirror_cmd *cmd);

/*
 * mmap() of the device (the kernel's /dev/hmm_dmirrorN can be mapped): every
 * page a zeroed page of the device's own, present from the start, shared or
 * copy-on-write as @flags say (MAP_SHARED or MAP_PRIVATE, not MAP_ANONYMOUS);
 * @off must be page-aligned and is otherwise ignored, as the kernel's device
 * ignores it.  Returns the mapping, or MAP_FAILED with errno set (EBADF,
 * EINVAL, ENOMEM, or mmap()'s).  munmap() unmaps it.
 */
typedef void *(*dmirror_mmap_fn)(int fd, void *addr, size_t len, int prot, int flags,
				 off_t off);

/*
 * A uhmm addition for fault-injection tests: make the @nth next device page
 * allocation (DMIRROR_FAIL_ALLOC), page copy (DMIRROR_FAIL_COPY) or CPU
 * fault on a page (DMIRROR_FAIL_FAULT: migrate_to_ram() returns
 * VM_FAULT_SIGBUS) of the device behind @fd fail; 0 disarms.  Returns how
 * many were still to go (0 if the failure happened), -EBADF or -EINVAL.
 */
#define DMIRROR_FAIL_ALLOC	0
#define DMIRROR_FAIL_COPY	1
#define DMIRROR_FAIL_FAULT	2
typedef long (*dmirror_fail_nth_fn)(int fd, unsigned int site, unsigned long nth);

#endif /* UHMM_HMM_DMIRROR_H */
