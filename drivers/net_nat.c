/* Forwarding and NAT of the dyno block, shared by the hsups of a host that use one state
 * directory. <state_dir>/net holds:
 *   .lock               held while anything here, or the kernel's part of it, changes
 *   user.<pid>.<start>  one per hsup that needs it: {"pid", "start_time", "boot_id", "block"}
 *   state.json          what was changed: {"boot_id", "ip_forward_before", "blocks"}, written
 *                       before each change, so the next hsup can undo what a crash left
 * Each change makes the kernel agree with the live users' blocks: the chains are rewritten
 * whole, and removed with ip_forward's old value restored once no live user is left.
 *
 * The rules are iptables', made with iptables-restore through cm_spawn: a FORWARD chain whose
 * policy is DROP (Docker sets it) belongs to iptables, and only a rule in that very chain lets
 * the dynos' packets through; a table of our own in nftables could not, as every base chain
 * of a hook must accept a packet. iptables-restore applies a table's changes at once. */
#define _GNU_SOURCE
#include "drivers/net.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proc.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#define NET_DIR     "net"
#define STATE_FILE  "state.json"
#define USER_PREFIX "user."
#define IP_FORWARD  "/proc/sys/net/ipv4/ip_forward"
#define TOOL_PATH   "/usr/sbin:/usr/bin:/sbin:/bin"
#define OUTPUT_MAX  (64u << 20)

struct host {
	int dirfd, lockfd;
	char boot_id[40];
	pid_t pid;
	unsigned long long start_time;
	char user[64]; /* this process's user file */
};

static void host_close(struct host *h)
{
	if (h->lockfd >= 0)
		close(h->lockfd);
	if (h->dirfd >= 0)
		close(h->dirfd);
}

static int host_open(struct host *h, const char *state_dir, cm_err *err)
{
	memset(h, 0, sizeof(*h));
	h->lockfd = -1;
	h->pid = getpid();
	char state;
	h->dirfd = al_open_state_subdir(state_dir, NET_DIR, err);
	if (h->dirfd < 0 || al_read_boot_id(h->boot_id, sizeof(h->boot_id), err) < 0)
		return -1;
	if (cm_proc_stat(h->pid, &h->start_time, &state) < 0)
		return cm_err_sys(err, "read /proc/%d/stat", (int)h->pid);
	snprintf(h->user, sizeof(h->user), USER_PREFIX "%d.%llu", (int)h->pid, h->start_time);
	h->lockfd = openat(h->dirfd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (h->lockfd < 0)
		return cm_err_sys(err, "open %s/%s/.lock", state_dir, NET_DIR);
	while (flock(h->lockfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return cm_err_sys(err, "lock %s/%s/.lock", state_dir, NET_DIR);
	return 0;
}

/* ---- running iptables ---- */

static int input_fd(const char *input, cm_err *err)
{
	int fd = memfd_create("hsup-iptables-input", MFD_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "memfd_create");
	if (cm_write_all(fd, input, strlen(input)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		cm_err_sys(err, "write the input of iptables-restore");
		close(fd);
		return -1;
	}
	return fd;
}

/* Starts path with stdin from in and stdout and stderr to out; returns its pidfd. */
static int start_tool(const char *path, char *const argv[], int in, int out, cm_err *err)
{
	char *env[] = {"PATH=" TOOL_PATH, "LC_ALL=C", NULL};
	struct cm_spawn_opts o = {
	    .path = path, .argv = argv, .envp = env, .stdio = {in, out, out}, .foreground_tty = -1};
	pid_t pid;
	int pidfd;
	return cm_spawn(&o, &pid, &pidfd, err) < 0 ? -1 : pidfd;
}

/* Waits for the child behind pidfd (never waitpid(-1)); returns its exit code. */
static int wait_child(int pidfd, cm_err *err)
{
	struct cm_exit st;
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int r;
	while ((r = cm_pidfd_reap(pidfd, &st, err)) == 0)
		poll(&p, 1, -1);
	return r < 0 ? -1 : st.code;
}

/* Runs argv[0] (found in TOOL_PATH) with input on stdin; its output (stdout and stderr) in
 * *out. Returns its exit code. */
static int run_tool(char *const argv[], const char *input, char **out, cm_err *err)
{
	_cleanup_free_ char *path = cm_find_program(argv[0], TOOL_PATH);
	if (!path)
		return cm_err_set(err, ENOENT,
		                  "%s is not installed (Debian: iptables); forwarding and NAT of "
		                  "the dynos' block need it",
		                  argv[0]);
	_cleanup_close_ int in =
	    input ? input_fd(input, err) : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return input ? -1 : cm_err_sys(err, "open /dev/null");
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cm_err_sys(err, "pipe");
	_cleanup_close_ int rd = pipefd[0];
	_cleanup_close_ int pidfd = start_tool(path, argv, in, pipefd[1], err);
	close(pipefd[1]);
	if (pidfd < 0)
		return -1;
	size_t len;
	cm_err rerr;
	int r = cm_read_fd(rd, argv[0], OUTPUT_MAX, out, &len, &rerr);
	close(cm_steal_fd(rd)); /* a writer left behind gets EPIPE, not a hang */
	int code = wait_child(pidfd, err);
	if (code >= 0 && r < 0) {
		*err = rerr;
		return -1;
	}
	return code;
}

/* Runs the tool and wants exit code 0; its last line of output says why it failed. */
static int run_ok(char *const argv[], const char *input, char **out, cm_err *err)
{
	_cleanup_free_ char *output = NULL;
	int code = run_tool(argv, input, &output, err);
	if (code < 0)
		return -1;
	if (code != 0) {
		size_t n = strlen(output);
		while (n && output[n - 1] == '\n')
			output[--n] = '\0';
		char *last = strrchr(output, '\n');
		return cm_err_set(err, EIO, "%s exited with %d: %s", argv[0], code,
		                  last ? last + 1
		                  : n  ? output
		                       : "no output");
	}
	if (out)
		*out = cm_steal_ptr(output);
	return 0;
}

struct table_def {
	const char *table, *parent, *chain;
};

static const struct table_def TABLES[] = {
    {"nat", "POSTROUTING", HS_NET_CHAIN_NAT},
    {"filter", "FORWARD", HS_NET_CHAIN_FORWARD},
};

/* What the table holds of ours: whether the chain exists, how many jumps lead to it. */
static int table_now(const struct table_def *t, bool *exists, int *jumps, cm_err *err)
{
	char *argv[] = {"iptables-save", "-t", (char *)t->table, NULL};
	_cleanup_free_ char *out = NULL;
	if (run_ok(argv, NULL, &out, err) < 0)
		return -1;
	_cleanup_free_ char *decl = xasprintf(":%s ", t->chain);
	_cleanup_free_ char *jump = xasprintf("-A %s -j %s", t->parent, t->chain);
	*exists = false;
	*jumps = 0;
	char *save = NULL;
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, decl, strlen(decl)) == 0)
			*exists = true;
		if (strcmp(l, jump) == 0)
			(*jumps)++;
	}
	return 0;
}

static void table_rules(FILE *f, const struct table_def *t, char *const *blocks)
{
	for (size_t i = 0; blocks[i]; i++) {
		const char *b = blocks[i];
		if (t == &TABLES[0]) {
			fprintf(f, "-A %s -s %s ! -d %s -j MASQUERADE\n", t->chain, b, b);
			continue;
		}
		fprintf(f, "-A %s -s %s -j ACCEPT\n", t->chain, b);
		fprintf(f, "-A %s -d %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n",
		        t->chain, b);
	}
}

static int restore(const char *script, cm_err *err)
{
	char *argv[] = {"iptables-restore", "-w", "--noflush", NULL};
	return run_ok(argv, script, NULL, err);
}

/* The chains hold exactly the blocks' rules (declaring a chain empties it), and one jump
 * leads to each, first in its parent. */
static int nat_apply(char *const *blocks, cm_err *err)
{
	_cleanup_free_ char *script = NULL;
	size_t len;
	FILE *f = open_memstream(&script, &len);
	if (!f)
		abort();
	for (size_t i = 0; i < CM_ARRAY_SIZE(TABLES); i++) {
		const struct table_def *t = &TABLES[i];
		bool exists;
		int jumps;
		if (table_now(t, &exists, &jumps, err) < 0) {
			fclose(f);
			return -1;
		}
		fprintf(f, "*%s\n:%s - [0:0]\n", t->table, t->chain);
		table_rules(f, t, blocks);
		if (jumps == 0)
			fprintf(f, "-I %s 1 -j %s\n", t->parent, t->chain);
		fprintf(f, "COMMIT\n");
	}
	fclose(f);
	return restore(script, err);
}

static int nat_remove(cm_err *err)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(TABLES); i++) {
		const struct table_def *t = &TABLES[i];
		bool exists;
		int jumps;
		if (table_now(t, &exists, &jumps, err) < 0)
			return -1;
		if (!exists && jumps == 0)
			continue;
		_cleanup_free_ char *script = NULL;
		size_t len;
		FILE *f = open_memstream(&script, &len);
		if (!f)
			abort();
		fprintf(f, "*%s\n", t->table);
		for (int j = 0; j < jumps; j++)
			fprintf(f, "-D %s -j %s\n", t->parent, t->chain);
		if (exists)
			fprintf(f, "-F %s\n-X %s\n", t->chain, t->chain);
		fprintf(f, "COMMIT\n");
		fclose(f);
		if (restore(script, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- ip_forward ---- */

static int read_ip_forward(char *buf, size_t size, cm_err *err)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	if (cm_read_file_at(AT_FDCWD, IP_FORWARD, 16, &s, &len, err) < 0)
		return -1;
	s[strcspn(s, "\n")] = '\0';
	snprintf(buf, size, "%s", s);
	return 0;
}

static int write_ip_forward(const char *value, cm_err *err)
{
	_cleanup_close_ int fd = open(IP_FORWARD, O_WRONLY | O_CLOEXEC);
	_cleanup_free_ char *line = xasprintf("%s\n", value);
	if (fd < 0 || cm_write_all(fd, line, strlen(line)) < 0)
		return cm_err_sys(err, "set %s to %s", IP_FORWARD, value);
	return 0;
}

/* ---- what is recorded ---- */

static json_t *read_json(struct host *h, const char *name, cm_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = cm_open_regular_at(h->dirfd, name, &st, err);
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (fd < 0 || cm_read_fd(fd, name, 64 * 1024, &text, &len, err) < 0)
		return NULL;
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr);
	if (!j)
		cm_err_set(err, EINVAL, "%s/%s: %s", NET_DIR, name, jerr.text);
	return j;
}

static int write_json(struct host *h, const char *name, json_t *j, cm_err *err)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!text)
		abort();
	int r = cm_write_file_replace_at(h->dirfd, name, text, strlen(text), 0600, err);
	free(text);
	return r < 0 ? cm_err_wrap(err, "%s", NET_DIR) : 0;
}

/* A user's block, or NULL (and its file removed) when the user is dead or unreadable. */
static char *user_block(struct host *h, const char *name)
{
	cm_err err;
	json_t *j = read_json(h, name, &err);
	json_int_t pid = 0, start = -1;
	const char *boot = NULL, *block = NULL;
	char *out = NULL;
	if (j &&
	    json_unpack(j, "{s:I, s:I, s:s, s:s}", "pid", &pid, "start_time", &start, "boot_id",
	                &boot, "block", &block) == 0 &&
	    pid > 0 && pid <= INT32_MAX && start >= 0 && strcmp(boot, h->boot_id) == 0 &&
	    cm_proc_alive((pid_t)pid, (unsigned long long)start))
		out = xstrdup(block);
	else if (j || err.code != ENOENT)
		unlinkat(h->dirfd, name, 0);
	json_decref(j);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The blocks of the live users, sorted, each once. */
static int live_blocks(struct host *h, char ***out, cm_err *err)
{
	int fd = openat(h->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cm_err_sys(err, "read %s", NET_DIR);
	}
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, USER_PREFIX, strlen(USER_PREFIX)) != 0)
			continue;
		char *b = user_block(h, e->d_name);
		bool dup = false;
		for (size_t i = 0; b && i < n; i++)
			dup = dup || strcmp(v[i], b) == 0;
		if (b && !dup)
			cm_strv_push(&v, &n, b);
		else
			free(b);
	}
	qsort(v, n, sizeof(char *), cmp_str);
	*out = v;
	return 0;
}

/* What an earlier hsup of this boot changed: its ip_forward_before, or "" when nothing. A
 * record of another boot is void: the reboot undid its changes. */
static int read_state(struct host *h, char *before, size_t size, cm_err *err)
{
	before[0] = '\0';
	json_t *j = read_json(h, STATE_FILE, err);
	if (!j)
		return err->code == ENOENT ? 0 : -1;
	const char *boot, *old;
	int r = json_unpack(j, "{s:s, s:s}", "boot_id", &boot, "ip_forward_before", &old);
	if (r == 0 && strcmp(boot, h->boot_id) == 0)
		snprintf(before, size, "%s", old);
	json_decref(j);
	if (r < 0)
		return cm_err_set(err, EINVAL,
		                  "%s/%s is not hsup's record: remove it once the "
		                  "forwarding and NAT it names are undone",
		                  NET_DIR, STATE_FILE);
	if (!before[0])
		unlinkat(h->dirfd, STATE_FILE, 0);
	return 0;
}

static int write_state(struct host *h, const char *before, char *const *blocks, cm_err *err)
{
	json_t *list = json_array();
	for (size_t i = 0; blocks[i]; i++)
		json_array_append_new(list, json_string(blocks[i]));
	return write_json(h, STATE_FILE,
	                  json_pack("{s:s, s:s, s:o}", "boot_id", h->boot_id, "ip_forward_before",
	                            before, "blocks", list),
	                  err);
}

/* The record goes only once both are undone, so a failure is retried by the next hsup. */
static int undo_all(struct host *h, const char *before, cm_err *err)
{
	cm_err second;
	int r = nat_remove(err);
	if (write_ip_forward(before, r < 0 ? &second : err) < 0 || r < 0)
		return -1;
	if (unlinkat(h->dirfd, STATE_FILE, 0) < 0 && errno != ENOENT)
		return cm_err_sys(err, "remove %s/%s", NET_DIR, STATE_FILE);
	return 0;
}

/* Makes the kernel agree with the live users. */
static int sync_host(struct host *h, cm_err *err)
{
	_cleanup_strv_ char **blocks = NULL;
	char before[16];
	if (live_blocks(h, &blocks, err) < 0 || read_state(h, before, sizeof(before), err) < 0)
		return -1;
	if (!blocks[0])
		return before[0] ? undo_all(h, before, err) : 0;
	char *none[] = {NULL};
	if (!before[0] && (read_ip_forward(before, sizeof(before), err) < 0 ||
	                   write_state(h, before, none, err) < 0))
		return -1;
	if (nat_apply(blocks, err) < 0 || write_ip_forward("1", err) < 0)
		return -1;
	return write_state(h, before, blocks, err);
}

/* Checked before anything changes, so a host without them is left as it was. */
static int have_tools(cm_err *err)
{
	const char *tools[] = {"iptables-save", "iptables-restore"};
	for (size_t i = 0; i < CM_ARRAY_SIZE(tools); i++) {
		_cleanup_free_ char *path = cm_find_program(tools[i], TOOL_PATH);
		if (!path)
			return cm_err_set(err, ENOENT, "%s is not installed (Debian: iptables)",
			                  tools[i]);
	}
	return 0;
}

int hs_net_host_acquire(const char *state_dir, const struct al_config *c, cm_err *err)
{
	struct host h;
	char net[AL_ADDR_LEN];
	_cleanup_free_ char *block =
	    xasprintf("%s/%u", al_addr_str(al_block_network(c), net), c->prefix);
	if (have_tools(err) < 0)
		return cm_err_wrap(err, "forwarding and NAT of %s", block);
	int rc = host_open(&h, state_dir, err);
	if (rc == 0)
		rc = write_json(&h, h.user,
		                json_pack("{s:I, s:I, s:s, s:s}", "pid", (json_int_t)h.pid,
		                          "start_time", (json_int_t)h.start_time, "boot_id",
		                          h.boot_id, "block", block),
		                err);
	if (rc == 0 && sync_host(&h, err) < 0) {
		cm_err ignored; /* leave nothing of this attempt */
		unlinkat(h.dirfd, h.user, 0);
		sync_host(&h, &ignored);
		rc = -1;
	}
	host_close(&h);
	return rc < 0 ? cm_err_wrap(err, "forwarding and NAT of %s", block) : 0;
}

int hs_net_host_release(const char *state_dir, cm_err *err)
{
	struct host h;
	int rc = host_open(&h, state_dir, err);
	if (rc == 0 && unlinkat(h.dirfd, h.user, 0) < 0 && errno != ENOENT)
		rc = cm_err_sys(err, "remove %s/%s", NET_DIR, h.user);
	if (rc == 0)
		rc = sync_host(&h, err);
	host_close(&h);
	return rc < 0 ? cm_err_wrap(err, "undo forwarding and NAT of the dynos") : 0;
}
