// SPDX-License-Identifier: LGPL-2.1-or-later
/* The uhmm command: modinfo, load, exports and bench, as a user runs them. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uhmm/migrate.h>
#include <uhmm/module.h>
#include <uhmm/version.h>

#include "dmirror_helpers.h"
#include "harness.h"

#define MOD(name) TEST_MODULE_DIR "/" name ".so"

static char out[65536];

/* Run `PROGRAM ARGS` with stderr folded into stdout; return its exit status. */
static int run_program(const char *program, const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", program, args);
	return harness_popen(cmd, out, sizeof(out));
}

/* Run `uhmm ARGS`. */
static int run(const char *args)
{
	return run_program(UHMM_TOOL, args);
}

/* run() under a 10 s limit, for what could block. */
static int run_limited(const char *args)
{
	return run_program("timeout 10 " UHMM_TOOL, args);
}

static bool has(const char *text)
{
	return strstr(out, text) != NULL;
}

/* The output parsed as JSON (json-c): it must be one array.  Put it when done. */
static struct json_object *json_out(void)
{
	enum json_tokener_error err;
	struct json_object *j = json_tokener_parse_verbose(out, &err);

	if (!j)
		HARNESS_FAIL("not JSON (%s): %.200s", json_tokener_error_desc(err), out);
	ASSERT_TRUE(json_object_is_type(j, json_type_array));
	return j;
}

/* Member @key of @o as a string, or NULL (absent or JSON null). */
static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ASSERT_TRUE(json_object_object_get_ex(o, key, &v));
	return v;
}

TEST(modinfo_prints_the_descriptor_as_text_and_json)
{
	ASSERT_EQ(run("modinfo " MOD("gpl_ok")), 0);
	ASSERT_TRUE(has("license:     GPL\n"));
	ASSERT_TRUE(has("export_gpl:  gpl_ok_helper\n"));
	ASSERT_TRUE(has("import:      uhmm_percpu_ref_init (uhmm, GPL)\n"));
	ASSERT_EQ(run("modinfo --json " MOD("prop_plain")), 0);
	{
		struct json_object *a = json_out(), *m, *e;

		ASSERT_EQ(json_object_array_length(a), 1);
		m = json_object_array_get_idx(a, 0);
		ASSERT_STREQ(jstr(m, "name"), "prop_plain");
		ASSERT_STREQ(jstr(m, "license"), "Proprietary");
		ASSERT_NULL(jstr(m, "author"));
		ASSERT_FALSE(json_object_get_boolean(jget(m, "gpl_compatible")));
		e = json_object_array_get_idx(jget(m, "exports"), 0);
		ASSERT_STREQ(jstr(e, "name"), "prop_fn");
		ASSERT_STREQ(jstr(e, "tier"), "plain");
		json_object_put(a);
	}
	/* The same fields as the text: imports with who provides them. */
	ASSERT_EQ(run("modinfo --json " MOD("gpl_ok")), 0);
	{
		struct json_object *a = json_out(), *imports, *i;
		size_t k, found = 0;

		imports = jget(json_object_array_get_idx(a, 0), "imports");
		for (k = 0; k < json_object_array_length(imports); k++) {
			i = json_object_array_get_idx(imports, k);
			if (!strcmp(jstr(i, "name"), "uhmm_percpu_ref_init")) {
				ASSERT_STREQ(jstr(i, "owner"), "uhmm");
				ASSERT_STREQ(jstr(i, "tier"), "GPL");
				found++;
			}
		}
		ASSERT_EQ(found, 1);
		json_object_put(a);
	}
}

/* A descriptor that is not UTF-8 still gives valid JSON, the byte as U+FFFD. */
TEST(modinfo_json_is_valid_for_any_bytes)
{
	struct json_object *a;
	const char *d;

	ASSERT_EQ(run("modinfo --json " MOD("odd_bytes")), 0);
	a = json_out();
	d = jstr(json_object_array_get_idx(a, 0), "description");
	ASSERT_STREQ(d, "caf\xef\xbf\xbd \"quoted\" \\ tab\t end");
	json_object_put(a);
}

/* A copy of a module with its ELF type changed to a relocatable object. */
/* Per process: two suites may run at once (a plain and a sanitizer build). */
static char relocatable[64];

static void write_relocatable(void)
{
	static char buf[1 << 20];
	FILE *in, *o;
	size_t n;

	snprintf(relocatable, sizeof(relocatable), "/tmp/uhmm-test-cli-relocatable-%d.o",
		 (int)getpid());
	in = fopen(MOD("gpl_ok"), "rb");
	o = fopen(relocatable, "wb");
	ASSERT_TRUE(in && o);
	n = fread(buf, 1, sizeof(buf), in);
	ASSERT_GT(n, 64);
	buf[16] = 1;	/* e_type = ET_REL */
	buf[17] = 0;
	ASSERT_EQ(fwrite(buf, 1, n, o), n);
	fclose(in);
	fclose(o);
}

TEST(modinfo_refuses_what_is_not_a_module)
{
	char args[128];

	write_relocatable();
	ASSERT_EQ(run("modinfo " UHMM_TOOL), 1);	/* an ELF file, but not a module */
	ASSERT_TRUE(has("not a uhmm module (no .modinfo section)"));
	ASSERT_TRUE(has("Exec format error"));
	snprintf(args, sizeof(args), "modinfo %s", relocatable);
	ASSERT_EQ(run(args), 1);
	ASSERT_TRUE(has("Invalid ELF header type: 1 != 3"));
	unlink(relocatable);
	ASSERT_EQ(run("modinfo /nonexistent.so"), 1);
	ASSERT_TRUE(has("No such file or directory"));
	ASSERT_EQ(run("modinfo"), 2);
	ASSERT_TRUE(has("usage: uhmm modinfo"));
}

TEST(load_reports_messages_taint_and_resolved_imports)
{
	ASSERT_EQ(run("load " MOD("gpl_user") " " MOD("gpl_ok")), 0);
	ASSERT_TRUE(has("loading 2 modules into a fresh instance"));
	ASSERT_TRUE(has("gpl_ok_helper                            <- gpl_ok (GPL)"));
	ASSERT_TRUE(has("uhmm_percpu_ref_init                     <- uhmm (GPL)"));
	ASSERT_TRUE(has("Not tainted"));
	ASSERT_TRUE(has("gpl_ok: exit ran, unloaded"));

	ASSERT_EQ(run("load " MOD("prop_plain")), 0);
	ASSERT_TRUE(has("[warning] prop_plain: module license 'Proprietary' taints kernel."));
	ASSERT_TRUE(has("Tainted: P"));

	ASSERT_EQ(run("load " MOD("prop_gpl")), 1);
	ASSERT_TRUE(has("prop_gpl: Unknown symbol uhmm_percpu_ref_init (err -2)"));
	ASSERT_TRUE(has("load failed"));
	ASSERT_EQ(run("load"), 2);
}

TEST(modinfo_and_load_refuse_what_is_not_a_regular_file)
{
	char fifo[64], args[128];

	snprintf(fifo, sizeof(fifo), "/tmp/uhmm-test-cli-fifo-%d", getpid());
	unlink(fifo);
	ASSERT_EQ(mkfifo(fifo, 0600), 0);
	/* The old reader waited forever for a writer: timeout stops it with 124. */
	snprintf(args, sizeof(args), "modinfo %s", fifo);
	ASSERT_EQ(run_limited(args), 1);
	ASSERT_TRUE(has("not a regular file"));
	ASSERT_TRUE(has("Invalid argument"));
	snprintf(args, sizeof(args), "load %s", fifo);
	ASSERT_EQ(run_limited(args), 1);
	ASSERT_TRUE(has("not a regular file"));
	unlink(fifo);
	ASSERT_EQ(run("modinfo /dev/null"), 1);
	ASSERT_TRUE(has("not a regular file"));
}

TEST(load_unloads_a_module_whose_init_bound_its_own_device)
{
	ASSERT_EQ(run("load " MOD("own_device")), 0);
	ASSERT_TRUE(has("own_device: exit ran, unloaded"));
}

TEST(load_of_one_module_twice_loads_nothing)
{
	ASSERT_EQ(run("load " MOD("own_device") " " MOD("own_device")), 1);
	ASSERT_TRUE(has("own_device: given twice"));
	ASSERT_TRUE(has("load failed: File exists (-17)"));
	/* Refused before anything was loaded: no init or exit ran. */
	ASSERT_FALSE(has("exit ran"));
}

TEST(exports_lists_every_core_symbol_with_its_tier)
{
	size_t nr, lines = 0;

	const struct uhmm_export *exp = uhmm_core_exports(&nr);
	struct json_object *a;
	size_t i;

	ASSERT_EQ(run("exports --json"), 0);
	a = json_out();
	ASSERT_EQ(json_object_array_length(a), nr);
	for (i = 0; i < nr; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		ASSERT_STREQ(jstr(e, "name"), exp[i].name);
		ASSERT_STREQ(jstr(e, "tier"), exp[i].tier == UHMM_EXPORT_GPL ? "GPL" : "plain");
		lines += !strcmp(exp[i].name, "uhmm_memremap_pages") &&
			 !strcmp(jstr(e, "tier"), "GPL");
	}
	ASSERT_EQ(lines, 1);
	json_object_put(a);
	ASSERT_EQ(run("exports"), 0);
	ASSERT_TRUE(has("uhmm_memremap_pages"));
	ASSERT_TRUE(has("EXPORT_SYMBOL_GPL"));
	ASSERT_EQ(run("exports --bogus"), 2);
}

TEST(bench_json_has_the_promised_fields)
{
	struct json_object *a, *r;

	ASSERT_EQ(run("bench --json --runs 1 --filter percpu_ref"), 0);
	a = json_out();
	ASSERT_GE(json_object_array_length(a), 1);
	r = json_object_array_get_idx(a, 0);
	ASSERT_STREQ(jstr(r, "name"), "percpu_ref get+put, 1 thread");
	ASSERT_STREQ(jstr(r, "unit"), "ns/op");
	/* Doubles: ASSERT_GT compares integers, and a ratio may well be below 1. */
	ASSERT_TRUE(json_object_get_double(jget(r, "value")) > 0);
	ASSERT_TRUE(json_object_get_double(jget(r, "baseline")) > 0);
	ASSERT_TRUE(json_object_get_double(jget(r, "ratio")) > 0);
	/* As the text form: what the baseline is and the target. */
	ASSERT_NONNULL(jstr(r, "baseline_is"));
	ASSERT_NONNULL(jstr(r, "target"));
	/* Each run's value and baseline, and what they were measured on. */
	ASSERT_EQ(json_object_array_length(jget(r, "samples")), 1);
	ASSERT_EQ(json_object_array_length(jget(r, "baseline_samples")), 1);
	ASSERT_TRUE(json_object_get_double(json_object_array_get_idx(jget(r, "samples"), 0)) ==
		    json_object_get_double(jget(r, "value")));
	ASSERT_NONNULL(jstr(jget(r, "machine"), "cpu"));
	ASSERT_NONNULL(jstr(jget(r, "machine"), "kernel"));
	ASSERT_EQ(json_object_get_int64(jget(jget(r, "machine"), "cpus")),
		  sysconf(_SC_NPROCESSORS_ONLN));
	json_object_put(a);
	ASSERT_EQ(run("bench --runs 0"), 2);
	ASSERT_EQ(run("nosuchcommand"), 2);
}

/* UHMM_LOG sets the library's log level in any program; a bad value is named. */
TEST(uhmm_log_from_the_environment)
{
	ASSERT_EQ(run_program("UHMM_LOG=bogus " UHMM_TOOL, "exports"), 0);
	ASSERT_TRUE(has("uhmm: ignoring UHMM_LOG=bogus"));
	ASSERT_EQ(run_program("UHMM_LOG=debug " UHMM_TOOL, "exports"), 0);
	ASSERT_FALSE(has("ignoring UHMM_LOG"));
}

/* ndctl's conventions: --version, help, COMMAND --help, exit codes 0/1/2. */
TEST(version_help_and_usage_errors)
{
	char want[64];

	snprintf(want, sizeof(want), "uhmm %s\n", uhmm_version_string());
	ASSERT_EQ(run("--version"), 0);
	ASSERT_STREQ(out, want);
	ASSERT_EQ(run("help"), 0);
	ASSERT_TRUE(has("usage: uhmm [--version] [--help] COMMAND [ARGS]"));
	ASSERT_TRUE(has("  modinfo  "));
	ASSERT_EQ(run("help bench"), 0);
	ASSERT_TRUE(has("usage: uhmm bench [--json] [--runs N] [--filter NAME]"));
	ASSERT_EQ(run("help nope"), 2);
	ASSERT_TRUE(has("uhmm help: no command 'nope'"));
	/* --help answers without running the command. */
	ASSERT_EQ(run("demo --help"), 0);
	ASSERT_TRUE(has("usage: uhmm demo\n"));
	ASSERT_FALSE(has("System RAM"));
	ASSERT_EQ(run("bench --runs 5x"), 2);
	ASSERT_TRUE(has("uhmm bench: --runs '5x' is not a number from 1 to 1000"));
	ASSERT_EQ(run("bench --runs 0"), 2);
	ASSERT_EQ(run("bench --runs"), 2);
	ASSERT_TRUE(has("uhmm bench: option '--runs' needs an argument"));
	ASSERT_EQ(run("bench --bogus"), 2);
	ASSERT_TRUE(has("uhmm bench: unknown option '--bogus'"));
	ASSERT_EQ(run("bench --runs 1 --filter nosuch"), 2);
	ASSERT_TRUE(has("uhmm bench: no suite matches 'nosuch'; the suites are: memremap, "
			"percpu_ref, migrate, hmm"));
	ASSERT_EQ(run("modinfo"), 2);
	ASSERT_TRUE(has("uhmm modinfo: no FILE given"));
	ASSERT_EQ(run("modinfo " MOD("gpl_ok") " " MOD("gpl_ok")), 2);
	ASSERT_EQ(run("load --bogus " MOD("gpl_ok")), 2);
	ASSERT_FALSE(has("loading"));
	ASSERT_EQ(run("exports extra"), 2);
	ASSERT_EQ(run("demo extra"), 2);
	ASSERT_EQ(run("nope"), 2);
	ASSERT_TRUE(has("uhmm: unknown command 'nope'"));
	/* Options after the file, and --opt=value, as getopt_long allows. */
	ASSERT_EQ(run("modinfo " MOD("gpl_ok") " --json"), 0);
	json_object_put(json_out());
}

/* Output that cannot be written is an error, not a silent success. */
TEST(a_failed_write_to_stdout_fails)
{
	/* A subshell, so that only its stdout goes to /dev/full. */
	ASSERT_EQ(run_program("(" UHMM_TOOL, "exports --json >/dev/full)"), 1);
	ASSERT_TRUE(has("uhmm: writing the output failed: No space left on device"));
	ASSERT_EQ(run_program("(" UHMM_TOOL, "--version >/dev/full)"), 1);
	ASSERT_EQ(run_program("(" UHMM_TOOL, "exports >/dev/null)"), 0);
}

/* load --json: one object per module, messages on stderr, stdout only JSON. */
TEST(load_json_is_an_array_of_the_modules)
{
	struct json_object *a, *m;
	size_t n;

	/* In a subshell, so that only its stdout is read. */
	ASSERT_EQ(run_program("(" UHMM_TOOL, "load --json " MOD("gpl_ok") " " MOD("gpl_user")
			      " 2>/dev/null)"), 0);
	a = json_out();
	n = json_object_array_length(a);
	ASSERT_EQ(n, 2);
	m = json_object_array_get_idx(a, 0);
	ASSERT_STREQ(jstr(m, "name"), "gpl_ok");
	ASSERT_STREQ(jstr(m, "license"), "GPL");
	ASSERT_FALSE(json_object_get_boolean(jget(m, "taints")));
	ASSERT_STREQ(jstr(m, "unload"), "exit ran, unloaded");
	m = json_object_array_get_idx(a, 1);
	ASSERT_STREQ(jstr(m, "name"), "gpl_user");
	ASSERT_STREQ(jstr(m, "unload"), "exit ran, unloaded");
	json_object_put(a);
	/* A failed load: exit 1, nothing on stdout but what stderr says. */
	ASSERT_EQ(run_program("(" UHMM_TOOL, "load --json " MOD("unknown_sym") " 2>/dev/null)"), 1);
	ASSERT_STREQ(out, "");
	ASSERT_EQ(run("load --json " MOD("unknown_sym")), 1);
	ASSERT_TRUE(has("uhmm load: load failed: No such file or directory (-2)"));
}

/* The bash completion completes commands, options and their values. */
static int complete(const char *words, int cword)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "bash -c 'source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _uhmm; echo \"${COMPREPLY[*]}\"'",
		 COMPLETION_SCRIPT, words, cword);
	return run_program(cmd, "");
}

TEST(bash_completion)
{
	ASSERT_EQ(complete("uhmm \"\"", 1), 0);
	ASSERT_STREQ(out, "demo bench modinfo load list exports stat top help --version --help\n");
	ASSERT_EQ(complete("uhmm mod", 1), 0);
	ASSERT_STREQ(out, "modinfo\n");
	ASSERT_EQ(complete("uhmm bench --", 2), 0);
	ASSERT_STREQ(out, "--json --runs --filter --help\n");
	ASSERT_EQ(complete("uhmm bench --filter m", 3), 0);
	ASSERT_STREQ(out, "memremap migrate\n");
	ASSERT_EQ(complete("uhmm help ex", 2), 0);
	ASSERT_STREQ(out, "exports\n");
}

/* uhmm stat PID: the counters of a process that publishes them (this one). */
TEST(stat_reads_a_running_process)
{
	char args[64];
	struct json_object *a, *o;
	int ret;

	ASSERT_EQ(setenv("UHMM_STATS", "1", 1), 0);
	ret = uhmm_mm_init();
	if (ret)
		SKIP("the fault engine cannot start here (%s)", strerror(-ret));
	snprintf(args, sizeof(args), "stat --json %d", (int)getpid());
	ASSERT_EQ(run(args), 0);
	a = json_out();
	o = json_object_array_get_idx(a, 0);
	ASSERT_EQ(json_object_get_int64(jget(o, "pid")), getpid());
	ASSERT_EQ(json_object_get_int64(jget(o, "faults")), 0);
	ASSERT_EQ(json_object_get_int64(jget(o, "pages_to_device")), 0);
	json_object_put(a);
	snprintf(args, sizeof(args), "stat %d", (int)getpid());
	ASSERT_EQ(run(args), 0);
	ASSERT_TRUE(has("faults               0\n"));
	ASSERT_EQ(run("stat 1"), 1);
	ASSERT_TRUE(has("uhmm stat: 1: publishes no counters (run it with UHMM_STATS=1)"));
	ASSERT_EQ(run("stat x"), 2);
	ASSERT_EQ(run("stat"), 2);
}

/*
 * A child that publishes its counters and keeps migrating 16 pages to
 * dmirror and faulting them back, until killed.  It writes a byte to @fd
 * after its first round, or exits 77 (skip) where it cannot run.
 */
static void migrate_forever(int fd)
{
	struct dmirror_api api;
	struct hmm_buffer *b;
	int dev, ret;

	setenv("UHMM_STATS", "1", 1);
	ret = uhmm_mm_init();
	if (ret)
		_exit(HARNESS_SKIP_EXIT);
	api = setup(&dev, 0);
	b = anon_buffer(16);
	for (;;) {
		fill(b, 16, 5);
		if (hmm_dmirror_cmd(&api, dev, HMM_DMIRROR_MIGRATE_TO_DEV, b, 16))
			_exit(1);
		check(b->ptr, 16, 5);	/* faults them back */
		if (fd >= 0) {
			if (write(fd, "x", 1) != 1)
				_exit(1);
			close(fd);
			fd = -1;
		}
	}
}

/* Report @report's (0-based) object for @pid in `top --json` output, or NULL. */
static struct json_object *top_entry(struct json_object **reports, int n, int report, pid_t pid)
{
	size_t i;

	if (report >= n)
		return NULL;
	for (i = 0; i < json_object_array_length(reports[report]); i++) {
		struct json_object *o = json_object_array_get_idx(reports[report], i);

		if (json_object_get_int64(jget(o, "pid")) == pid)
			return o;
	}
	return NULL;
}

/* uhmm top: a line per report for a process that publishes, with its rates. */
TEST(top_shows_a_migrating_process)
{
	struct json_object *reports[2] = { NULL, NULL }, *o;
	char args[64], c, *line, *save;
	int pipefd[2], n = 0, status;
	pid_t pid;

	ASSERT_EQ(pipe(pipefd), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(pipefd[0]);
		migrate_forever(pipefd[1]);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &c, 1) != 1) {
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == HARNESS_SKIP_EXIT)
			SKIP("the fault engine cannot start here");
		HARNESS_FAIL("the migrating child failed (status %#x)", status);
	}
	close(pipefd[0]);
	ASSERT_EQ(run_limited("top --json -n 2 -d 0.3"), 0);
	for (line = strtok_r(out, "\n", &save); line && n < 2; line = strtok_r(NULL, "\n", &save)) {
		reports[n] = json_tokener_parse(line);
		ASSERT_NONNULL(reports[n]);
		ASSERT_TRUE(json_object_is_type(reports[n], json_type_array));
		n++;
	}
	ASSERT_EQ(n, 2);
	o = top_entry(reports, n, 1, pid);
	ASSERT_NONNULL(o);
	ASSERT_STREQ(jstr(o, "comm"), "test-cli");
	ASSERT_TRUE(json_object_get_double(jget(o, "interval_s")) > 0.2);
	ASSERT_TRUE(json_object_get_double(jget(o, "faults_per_s")) > 0);
	ASSERT_TRUE(json_object_get_double(jget(o, "pages_to_device_per_s")) > 0);
	ASSERT_TRUE(json_object_get_double(jget(o, "pages_to_ram_per_s")) > 0);
	ASSERT_EQ(json_object_get_int64(jget(o, "fault_errors")), 0);
	ASSERT_GT(json_object_get_int64(jget(o, "registered_bytes")), 0);	/* a gauge */
	json_object_put(reports[0]);
	json_object_put(reports[1]);
	/* The text form: a header, then a line that starts with the pid. */
	ASSERT_EQ(run_limited("top -n 1 -d 0.2"), 0);
	ASSERT_TRUE(has("PID COMM              FAULT/s"));
	snprintf(args, sizeof(args), "\n%8d test-cli ", (int)pid);
	ASSERT_TRUE(has(args));
	kill(pid, SIGKILL);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_EQ(run("top -d 0"), 2);
	ASSERT_TRUE(has("uhmm top: -d '0': seconds from 0.1 to 3600"));
	ASSERT_EQ(run("top -n 0"), 2);
	ASSERT_EQ(run("top extra"), 2);
	ASSERT_TRUE(has("uhmm top: unexpected argument 'extra'"));
}

/* uhmm list: what a module's init created, in text and JSON; -u; errors. */
TEST(list_shows_modules_devices_and_pgmaps)
{
	struct json_object *a, *o;
	size_t i;
	int kinds = 0;

	ASSERT_EQ(run("list " MOD("own_device")), 0);
	ASSERT_TRUE(has("modules:\n  own_device       license GPL"));
	ASSERT_TRUE(has("devices:\n  own0             driver own_device\n"));
	ASSERT_TRUE(has("device private, 67108864 bytes"));
	ASSERT_TRUE(has("pages 16384, in use 0, free 16384\n"));
	ASSERT_EQ(run("list --json -u " MOD("own_device")), 0);
	a = json_out();
	for (i = 0; i < json_object_array_length(a); i++) {
		const char *kind;

		o = json_object_array_get_idx(a, i);
		kind = jstr(o, "kind");
		ASSERT_NONNULL(kind);
		if (!strcmp(kind, "module")) {
			ASSERT_STREQ(jstr(o, "name"), "own_device");
			ASSERT_EQ(json_object_get_boolean(jget(o, "taints")), 0);
			kinds |= 1;
		} else if (!strcmp(kind, "device")) {
			ASSERT_STREQ(jstr(o, "name"), "own0");
			ASSERT_STREQ(jstr(o, "driver"), "own_device");
			kinds |= 2;
		} else if (!strcmp(kind, "pgmap")) {
			ASSERT_STREQ(jstr(o, "type"), "device private");
			ASSERT_STREQ(jstr(o, "size"), "64.00 MiB");
			ASSERT_EQ(json_object_get_int64(jget(o, "pages")), 16384);
			ASSERT_EQ(json_object_get_int64(jget(o, "pages_free")), 16384);
			ASSERT_EQ(json_object_array_length(jget(o, "ranges")), 1);
			kinds |= 4;
		} else {
			HARNESS_FAIL("unknown kind '%s'", kind);
		}
	}
	ASSERT_EQ(kinds, 7);
	json_object_put(a);
	ASSERT_EQ(run("list"), 0);
	ASSERT_TRUE(has("nothing loaded"));
	ASSERT_EQ(run("list --json"), 0);
	ASSERT_STREQ(out, "[\n]\n");
	ASSERT_EQ(run("list /nonexistent.so"), 1);
	ASSERT_TRUE(has("uhmm list: loading failed"));
	ASSERT_EQ(run("list --bogus"), 2);
}
