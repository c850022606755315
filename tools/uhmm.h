/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The uhmm command: one function per verb. */
#ifndef UHMM_TOOL_H
#define UHMM_TOOL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Each command parses its own options with parse_options() (getopt_long,
 * so "--json", "--runs=5" and "--runs 5" all work): it returns the next
 * option's value, -1 at the end, or '?' after it has said on stderr what
 * was wrong ("uhmm CMD: unknown option '--x'", a missing argument).  main()
 * answers "uhmm CMD --help" itself, before the command runs.
 */
struct option;
int parse_options(int argc, char **argv, const char *cmd, const char *shortopts,
		  const struct option *longopts);
/* A whole decimal number in [min, max] for option @name, or -1 after saying why. */
long parse_number(const char *cmd, const char *name, const char *s, long min, long max);
/* Print "usage: uhmm CMD ARGS" for command @cmd to stderr; returns 2, the exit code. */
int usage_error(const char *cmd);

/* json.c: --json output with json-c */
#include <json-c/json.h>
/* A JSON string of @s with every invalid UTF-8 sequence as U+FFFD; NULL for NULL. */
struct json_object *json_str(const char *s);
/* Print @array (indented) and a newline, and drop it; 0. */
int json_print(struct json_object *array);

int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_modinfo(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_exports(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_list(int argc, char **argv);

/*
 * Unload what uhmm_module_load_many() loaded into @mods, users before what
 * they use.  Each outcome goes into @objs[i] ("unload") when given, else
 * to stdout as "  NAME: outcome" when @report, else only failures to stderr.
 */
struct uhmm_module;
void unload_modules(struct uhmm_module **mods, int n, struct json_object **objs, bool report);
int cmd_top(int argc, char **argv);

/*
 * Find module @name: in $UHMM_MODULE_DIR, then, for a uhmm run from its
 * meson build tree, that tree's drivers/, then where `meson install` puts
 * modules.  Return 0 with @path filled, or -ENOENT after saying on stderr
 * which directories it searched.
 */
int find_module_file(const char *name, char *path, size_t len);

#endif
