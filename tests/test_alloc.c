/* Dyno UIDs and subnets (alloc/): the Go hsup's variables, defaults and arithmetic, the exact
 * messages for bad values, and reservations shared by several processes: never one UID for
 * two live owners, and a dead owner's reservation reported with what it made, then freed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc/alloc.h"
#include "common/proc.h"

static char *addr(uint32_t a)
{
	static char buf[4][AL_ADDR_LEN];
	static int i;
	return (char *)al_addr_str(a, buf[i++ % 4]);
}

static void defaults_are_the_go_hsups(void **state)
{
	(void)state;
	struct al_config c;
	cm_err err;
	assert_int_equal(al_config_parse(&c, NULL, NULL, NULL, &err), 0);
	assert_string_equal(addr(c.base), "172.16.0.28");
	assert_int_equal(c.prefix, 12);
	assert_int_equal(c.uid_min, 3000);
	assert_int_equal(c.uid_max, 11000);
	/* blank is unset, as the Go hsup's TrimSpace made it */
	assert_int_equal(al_config_parse(&c, " \t", "", "\n", &err), 0);
	assert_int_equal(c.uid_min, 3000);
	assert_int_equal(al_block_subnets(&c), (1u << 18) - 7);
}

static void subnet_arithmetic(void **state)
{
	(void)state;
	struct al_config c;
	struct al_subnet sn;
	cm_err err;
	assert_int_equal(al_config_parse(&c, NULL, NULL, NULL, &err), 0);
	assert_int_equal(al_subnet_for_uid(&c, 3000, &sn, &err), 0);
	assert_string_equal(addr(sn.network), "172.16.0.28");
	assert_string_equal(addr(sn.gateway), "172.16.0.29");
	assert_string_equal(addr(sn.host), "172.16.0.30");
	assert_string_equal(addr(sn.broadcast), "172.16.0.31");
	assert_int_equal(sn.prefix, 30);
	assert_int_equal(al_subnet_for_uid(&c, 3001, &sn, &err), 0);
	assert_string_equal(addr(sn.host), "172.16.0.34");
	/* 8000 /30s after 172.16.0.28: 172.16.0.28 + 32000 */
	assert_int_equal(al_subnet_for_uid(&c, 11000, &sn, &err), 0);
	assert_string_equal(addr(sn.network), "172.16.125.28");
	assert_int_equal(al_subnet_for_uid(&c, 2999, &sn, &err), -1);
	assert_string_equal(err.msg, "UID 2999 is outside LIBCONTAINER_DYNO_UID_MIN..LIBCONTAINER_"
	                             "DYNO_UID_MAX (3000..11000)");
	/* a base inside a /30 counts from that /30, as the Go hsup's shifts did */
	assert_int_equal(al_config_parse(&c, "10.1.2.30/8", "100", "100", &err), 0);
	assert_int_equal(al_subnet_for_uid(&c, 100, &sn, &err), 0);
	assert_string_equal(addr(sn.network), "10.1.2.28");
	/* the README's example: 172.17.0.0/16 holds 16384 /30s, the last 172.17.255.252 */
	assert_int_equal(al_config_parse(&c, "172.17.0.0/16", "1", "16384", &err), 0);
	assert_int_equal(al_subnet_for_uid(&c, 16384, &sn, &err), 0);
	assert_string_equal(addr(sn.network), "172.17.255.252");
	assert_string_equal(addr(sn.broadcast), "172.17.255.255");
	/* the whole address space, to its very last /30 */
	assert_int_equal(al_config_parse(&c, "255.255.255.252/0", "7", "7", &err), 0);
	assert_int_equal(al_subnet_for_uid(&c, 7, &sn, &err), 0);
	assert_string_equal(addr(sn.broadcast), "255.255.255.255");
}

struct bad {
	const char *subnet, *min, *max, *msg;
};

static const struct bad bad_values[] = {
    {"172.16.0.0", NULL, NULL,
     "LIBCONTAINER_DYNO_SUBNET \"172.16.0.0\" is not an IPv4 block a.b.c.d/n: there is no '/' "
     "and prefix length after the address"},
    {"172.16.0.300/12", NULL, NULL,
     "LIBCONTAINER_DYNO_SUBNET \"172.16.0.300/12\" is not an IPv4 block a.b.c.d/n: the address "
     "before '/' is not an IPv4 address (a.b.c.d, each part 0 to 255 without leading zeros)"},
    {"172.016.0.0/12", NULL, NULL,
     "LIBCONTAINER_DYNO_SUBNET \"172.016.0.0/12\" is not an IPv4 block a.b.c.d/n: the address "
     "before '/' is not an IPv4 address (a.b.c.d, each part 0 to 255 without leading zeros)"},
    {"fd00::/64", NULL, NULL,
     "LIBCONTAINER_DYNO_SUBNET \"fd00::/64\" is not an IPv4 block a.b.c.d/n: the address before "
     "'/' is not an IPv4 address (a.b.c.d, each part 0 to 255 without leading zeros)"},
    {"172.16.0.0/33", NULL, NULL,
     "LIBCONTAINER_DYNO_SUBNET \"172.16.0.0/33\" is not an IPv4 block a.b.c.d/n: the prefix "
     "length after '/' is not a number from 0 to 32"},
    {"172.16.0.0/", NULL, NULL,
     "LIBCONTAINER_DYNO_SUBNET \"172.16.0.0/\" is not an IPv4 block a.b.c.d/n: the prefix "
     "length after '/' is not a number from 0 to 32"},
    {"10.0.0.0/31", "1", "1",
     "LIBCONTAINER_DYNO_SUBNET \"10.0.0.0/31\": the prefix length 31 is longer than 30, so the "
     "block cannot hold a dyno's /30 subnet"},
    {NULL, "3O00", NULL,
     "LIBCONTAINER_DYNO_UID_MIN \"3O00\" is not a UID: it must be a decimal number (digits "
     "only, no sign)"},
    {NULL, NULL, "-5",
     "LIBCONTAINER_DYNO_UID_MAX \"-5\" is not a UID: it must be a decimal number (digits only, "
     "no sign)"},
    {NULL, "0", NULL,
     "LIBCONTAINER_DYNO_UID_MIN \"0\" is out of range: a dyno's UID is from 1 to 4294967294"},
    {NULL, NULL, "4294967295",
     "LIBCONTAINER_DYNO_UID_MAX \"4294967295\" is out of range: a dyno's UID is from 1 to "
     "4294967294"},
    {NULL, NULL, "99999999999999999999999",
     "LIBCONTAINER_DYNO_UID_MAX \"99999999999999999999999\" is out of range: a dyno's UID is "
     "from 1 to 4294967294"},
    {NULL, "5000", "4000",
     "LIBCONTAINER_DYNO_UID_MIN (5000) is greater than LIBCONTAINER_DYNO_UID_MAX (4000)"},
    /* the README's rule, exactly: 16384 /30s are 16384 UIDs, so max - min <= 16383 */
    {"172.17.0.0/16", "1", "16385",
     "LIBCONTAINER_DYNO_UID_MIN..LIBCONTAINER_DYNO_UID_MAX (1..16385) is 16385 UIDs, but "
     "LIBCONTAINER_DYNO_SUBNET 172.17.0.0/16 has only 16384 /30 subnets from 172.17.0.0 on: "
     "make LIBCONTAINER_DYNO_UID_MAX - LIBCONTAINER_DYNO_UID_MIN at most 16383, or the block "
     "larger"},
    {NULL, "1", "4294967294",
     "LIBCONTAINER_DYNO_UID_MIN..LIBCONTAINER_DYNO_UID_MAX (1..4294967294) is 4294967294 UIDs, "
     "but LIBCONTAINER_DYNO_SUBNET 172.16.0.0/12 has only 262137 /30 subnets from 172.16.0.28 "
     "on: make LIBCONTAINER_DYNO_UID_MAX - LIBCONTAINER_DYNO_UID_MIN at most 262136, or the "
     "block larger"},
};

static void bad_values_name_the_variable_and_part(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const struct bad *b = &bad_values[i];
		struct al_config c = {.uid_min = 42};
		cm_err err;
		assert_int_equal(al_config_parse(&c, b->subnet, b->min, b->max, &err), -1);
		assert_string_equal(err.msg, b->msg);
		assert_int_equal(c.uid_min, 42); /* untouched */
	}
	/* Go's Atoi took leading zeros; so does this */
	struct al_config c;
	cm_err err;
	assert_int_equal(al_config_parse(&c, NULL, " 03000 ", "011000", &err), 0);
	assert_int_equal(c.uid_min, 3000);
	assert_int_equal(c.uid_max, 11000);
}

/* ---- reservations ---- */

static char dir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hsup-alloc-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct al_alloc *open_range(const char *min, const char *max)
{
	struct al_config c;
	struct al_alloc *a;
	cm_err err;
	assert_int_equal(al_config_parse(&c, NULL, min, max, &err), 0);
	if (al_open(dir, &c, &a, &err) < 0)
		fail_msg("%s", err.msg);
	return a;
}

static int count_records(void)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "ls %s/uids | grep -c '^[0-9]'", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void reserve_record_release(void **state)
{
	(void)state;
	struct al_alloc *a = open_range("3000", "3002");
	uint32_t u[3];
	cm_err err;
	for (int i = 0; i < 3; i++)
		assert_int_equal(al_reserve(a, &u[i], &err), 0);
	assert_true(u[0] != u[1] && u[1] != u[2] && u[0] != u[2]);
	for (int i = 0; i < 3; i++)
		assert_true(u[i] >= 3000 && u[i] <= 3002);
	uint32_t extra;
	assert_int_equal(al_reserve(a, &extra, &err), -1);
	assert_int_equal(err.code, EAGAIN);
	assert_string_equal(err.msg, "no free UID in LIBCONTAINER_DYNO_UID_MIN..LIBCONTAINER_DYNO_"
	                             "UID_MAX (3000..3002): all 3 are reserved (those of exited "
	                             "hsups until they are freed)");
	struct al_field f[] = {{"veth", "hsv3000"}, {"netns", "/run/hsup/ns/3000"}};
	assert_int_equal(al_record(a, u[0], f, 2, &err), 0);
	assert_int_equal(al_release(a, u[1], &err), 0);
	assert_int_equal(al_release(a, u[1], &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_int_equal(al_reserve(a, &extra, &err), 0);
	assert_int_equal(extra, u[1]);
	/* live: nothing is reported dead */
	struct al_reservation *dead;
	size_t n;
	assert_int_equal(al_list_dead(a, &dead, &n, &err), 0);
	assert_int_equal(n, 0);
	al_reservations_free(dead, n);
	for (int i = 0; i < 3; i++)
		assert_int_equal(al_release(a, u[i] == u[1] ? extra : u[i], &err), 0);
	assert_int_equal(count_records(), 0);
	al_close(a);
}

/* Every process takes UIDs until none is left; no UID is handed out twice. */
static void processes_never_share_a_uid(void **state)
{
	(void)state;
	enum {
		PROCS = 4,
		RANGE = 120
	};
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t kids[PROCS];
	for (int k = 0; k < PROCS; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(pipefd[0]);
			struct al_config c;
			struct al_alloc *a;
			cm_err err;
			if (al_config_parse(&c, NULL, "5000", "5119", &err) < 0 ||
			    al_open(dir, &c, &a, &err) < 0)
				_exit(2);
			uint32_t uid;
			while (al_reserve(a, &uid, &err) == 0)
				if (write(pipefd[1], &uid, sizeof(uid)) != sizeof(uid))
					_exit(3);
			_exit(err.code == EAGAIN ? 0 : 4);
		}
	}
	close(pipefd[1]);
	int seen[RANGE] = {0}, total = 0;
	uint32_t uid;
	while (read(pipefd[0], &uid, sizeof(uid)) == sizeof(uid)) {
		assert_true(uid >= 5000 && uid < 5000 + RANGE);
		seen[uid - 5000]++;
		total++;
	}
	close(pipefd[0]);
	for (int k = 0; k < PROCS; k++) {
		int st;
		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(total, RANGE);
	for (int i = 0; i < RANGE; i++)
		assert_int_equal(seen[i], 1);
}

/* A child that reserves a UID, records fields, says which and waits to be killed. */
static pid_t owner_child(const char *min, const char *max, uint32_t *uid)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		struct al_config c;
		struct al_alloc *a;
		cm_err err;
		uint32_t u = 0;
		struct al_field f[] = {{"veth", "hsv1"}, {"dir", "/x y"}};
		if (al_config_parse(&c, NULL, min, max, &err) < 0 ||
		    al_open(dir, &c, &a, &err) < 0 || al_reserve(a, &u, &err) < 0 ||
		    al_record(a, u, f, 2, &err) < 0)
			u = 0;
		if (write(p[1], &u, sizeof(u)) != sizeof(u))
			_exit(3);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], uid, sizeof(*uid)), sizeof(*uid));
	close(p[0]);
	assert_true(*uid != 0);
	return pid;
}

static void dead_owner_is_reported_and_reclaimed(void **state)
{
	(void)state;
	uint32_t uid;
	pid_t kid = owner_child("6000", "6000", &uid);
	assert_int_equal(uid, 6000);
	struct al_alloc *a = open_range("6000", "6000");
	struct al_reservation *dead;
	size_t n;
	cm_err err;
	kill(kid, SIGKILL);
	assert_int_equal(waitpid(kid, NULL, 0), kid);
	assert_int_equal(al_reserve(a, &uid, &err), -1); /* a dead owner's UID is not taken */
	assert_int_equal(al_list_dead(a, &dead, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dead[0].uid, 6000);
	assert_int_equal(dead[0].pid, kid);
	assert_string_equal(al_field(&dead[0], "veth"), "hsv1");
	assert_string_equal(al_field(&dead[0], "dir"), "/x y");
	assert_null(al_field(&dead[0], "cgroup"));
	char why[96];
	snprintf(why, sizeof(why), "its owner, pid %d, has exited", (int)kid);
	assert_string_equal(dead[0].why, why);
	assert_int_equal(al_release_dead(a, &dead[0], &err), 0);
	assert_int_equal(al_reserve(a, &uid, &err), 0);
	assert_int_equal(uid, 6000);
	/* a second cleaner with the old listing must not free the new owner's reservation */
	assert_int_equal(al_release_dead(a, &dead[0], &err), 0);
	assert_int_equal(count_records(), 1);
	assert_int_equal(al_release(a, uid, &err), 0);
	al_reservations_free(dead, n);
	al_close(a);
}

static void live_owner_is_not_dead_until_killed(void **state)
{
	(void)state;
	int q[2];
	assert_int_equal(pipe(q), 0);
	pid_t kid = fork();
	if (kid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(q[0]);
		struct al_config c;
		struct al_alloc *a;
		cm_err err;
		uint32_t u;
		if (al_config_parse(&c, NULL, "7000", "7000", &err) < 0 ||
		    al_open(dir, &c, &a, &err) < 0 || al_reserve(a, &u, &err) < 0)
			_exit(1);
		if (write(q[1], "r", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(q[1]);
	char x;
	assert_int_equal(read(q[0], &x, 1), 1);
	close(q[0]);
	struct al_alloc *a = open_range("7000", "7000");
	struct al_reservation *dead;
	size_t n;
	cm_err err;
	assert_int_equal(al_list_dead(a, &dead, &n, &err), 0);
	assert_int_equal(n, 0);
	al_reservations_free(dead, n);
	uint32_t uid;
	assert_int_equal(al_reserve(a, &uid, &err), -1);
	/* not ours: we may not free it */
	assert_int_equal(al_release(a, 7000, &err), -1);
	assert_int_equal(err.code, EPERM);
	kill(kid, SIGKILL);
	assert_int_equal(waitpid(kid, NULL, 0), kid);
	assert_int_equal(al_list_dead(a, &dead, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(al_release_dead(a, &dead[0], &err), 0);
	al_reservations_free(dead, n);
	assert_int_equal(count_records(), 0);
	al_close(a);
}

static void write_at(const char *name, const char *text)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/uids/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Records this process owns, from another boot, or that hsup never wrote. */
static void other_boot_and_garbage_are_dead(void **state)
{
	(void)state;
	struct al_alloc *a = open_range("8000", "8010");
	unsigned long long start;
	char st;
	assert_int_equal(cm_proc_stat(getpid(), &start, &st), 0);
	char rec[256];
	snprintf(rec, sizeof(rec),
	         "{\"uid\":8001,\"pid\":%d,\"start_time\":%llu,\"boot_id\":"
	         "\"00000000-0000-0000-0000-000000000000\",\"fields\":{}}\n",
	         (int)getpid(), start);
	write_at("8001", rec);
	write_at("8002", "{\"uid\": 8002, \"pid\": \"x\"}");
	write_at("8003", "");
	char path[160];
	snprintf(path, sizeof(path), "%s/uids/8004", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	write_at("not-a-uid", "x");
	/* a temporary file a dead writer left */
	write_at(".tmp.999999999.1.0", "x");
	struct al_reservation *dead;
	size_t n;
	cm_err err;
	assert_int_equal(al_list_dead(a, &dead, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(dead[0].uid, 8001);
	assert_string_equal(dead[0].why, "it was made before the last boot (boot "
	                                 "00000000-0000-0000-0000-000000000000)");
	assert_string_equal(dead[1].why,
	                    "its record is unreadable: it is not a reservation record");
	assert_int_equal(dead[1].pid, 0);
	assert_string_equal(dead[2].why,
	                    "its record is unreadable: it is not a reservation record");
	assert_string_equal(dead[3].why, "its record is unreadable: 8004 is a symbolic link, not a "
	                                 "regular file: refused without reading it");
	for (size_t i = 0; i < n; i++)
		assert_int_equal(al_release_dead(a, &dead[i], &err), 0);
	al_reservations_free(dead, n);
	assert_int_equal(count_records(), 0);
	assert_int_equal(access("/etc/passwd", F_OK), 0); /* the link went, not its target */
	snprintf(path, sizeof(path), "%s/uids/.tmp.999999999.1.0", dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/uids/not-a-uid", dir);
	assert_int_equal(access(path, F_OK), 0);
	al_close(a);
}

/* With all but one of 8001 UIDs reserved, the one left is found (one pass, no guessing). */
static void the_last_free_uid_is_found(void **state)
{
	(void)state;
	struct al_alloc *a = open_range(NULL, NULL);
	unsigned long long start;
	char st, boot[40], rec[256], name[16];
	cm_err err;
	assert_int_equal(cm_proc_stat(getpid(), &start, &st), 0);
	assert_int_equal(al_read_boot_id(boot, sizeof(boot), &err), 0);
	for (uint32_t u = 3000; u <= 11000; u++) {
		if (u == 10007)
			continue;
		snprintf(name, sizeof(name), "%u", u);
		snprintf(rec, sizeof(rec),
		         "{\"uid\":%u,\"pid\":%d,\"start_time\":%llu,\"boot_id\":\"%s\","
		         "\"fields\":{}}\n",
		         u, (int)getpid(), start, boot);
		write_at(name, rec);
	}
	uint32_t uid;
	assert_int_equal(al_reserve(a, &uid, &err), 0);
	assert_int_equal(uid, 10007);
	assert_int_equal(al_reserve(a, &uid, &err), -1);
	assert_int_equal(err.code, EAGAIN);
	al_close(a);
}

static void state_dir_must_be_private(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "%s/uids", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0777), 0);
	struct al_config c;
	struct al_alloc *a;
	cm_err err;
	assert_int_equal(al_config_parse(&c, NULL, NULL, NULL, &err), 0);
	assert_int_equal(al_open(dir, &c, &a, &err), -1);
	char want[256];
	snprintf(want, sizeof(want),
	         "%s/uids is writable by others (mode 777): what it records cannot be trusted",
	         dir);
	assert_string_equal(err.msg, want);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_int_equal(al_open(dir, &c, &a, &err), -1);
	assert_int_equal(err.code, ENOTDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults_are_the_go_hsups),
	    cmocka_unit_test(subnet_arithmetic),
	    cmocka_unit_test(bad_values_name_the_variable_and_part),
	    cmocka_unit_test_setup_teardown(reserve_record_release, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(processes_never_share_a_uid, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(dead_owner_is_reported_and_reclaimed, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(live_owner_is_not_dead_until_killed, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(other_boot_and_garbage_are_dead, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(the_last_free_uid_is_found, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(state_dir_must_be_private, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
