/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The uhmm command: one function per verb. */
#ifndef UHMM_TOOL_H
#define UHMM_TOOL_H

int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_modinfo(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_exports(int argc, char **argv);

#endif
