/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The uhmm command: one function per verb. */
#ifndef UHMM_TOOL_H
#define UHMM_TOOL_H

#include <stddef.h>

int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_modinfo(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_exports(int argc, char **argv);

/*
 * Find module @name: in $UHMM_MODULE_DIR, then, for a uhmm run from its
 * meson build tree, that tree's drivers/, then where `meson install` puts
 * modules.  Return 0 with @path filled, or -ENOENT after saying on stderr
 * which directories it searched.
 */
int find_module_file(const char *name, char *path, size_t len);

#endif
