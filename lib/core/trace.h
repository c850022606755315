/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * USDT probes, uhmm's tracepoints: provider "uhmm", for bpftrace, perf and
 * SystemTap to attach to in a running program.  Built in where meson found
 * <sys/sdt.h> (Debian's systemtap-sdt-dev).  A probe is one nop in the
 * code and a note in the ELF file; its arguments are computed either way,
 * so pass values already at hand.  The probes and their arguments are
 * listed in the README.
 */
#ifndef UHMM_LIB_CORE_TRACE_H
#define UHMM_LIB_CORE_TRACE_H

#ifdef UHMM_HAVE_SDT
#define SDT_USE_VARIADIC	/* for STAP_PROBEV */
#include <sys/sdt.h>
#define uhmm_trace(name, ...)	STAP_PROBEV(uhmm, name, __VA_ARGS__)
#else
#define uhmm_trace(name, ...)	do { } while (0)
#endif

#endif /* UHMM_LIB_CORE_TRACE_H */
