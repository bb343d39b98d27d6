/* The dynos' network (drivers/net.c, drivers/net_nat.c), checked from outside with ip,
 * nsenter, iptables-save, curl and python3. The test process moves itself into network and
 * mount namespaces of its own first, which stand for the host: the real host's links,
 * forwarding and iptables are never touched, and whatever a failing test leaves dies with
 * those namespaces. Its "internet" and "LAN" are namespaces it makes inside them. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc/alloc.h"
#include "drivers/net.h"

static const char *skip_reason;     /* no private namespaces: every host test skips */
static const char *iptables_reason; /* no iptables: the forwarding tests skip */
static char tmp[64];                /* a tmpfs of the private mount namespace */
static char state_dir[96];

#define NEED(reason)                                                                               \
	do {                                                                                       \
		if (reason) {                                                                      \
			print_message("# skip: %s\n", reason);                                     \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Runs a shell command line; its output (stdout and stderr) in *out when out is given. */
static int sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(char **out, const char *fmt, ...)
{
	char *cmd, *line;
	va_list ap;
	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	assert_true(asprintf(&line, "(%s) 2>&1", cmd) > 0);
	FILE *p = popen(line, "r");
	assert_non_null(p);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	int st = pclose(p);
	free(line);
	free(cmd);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void must(const char *cmd)
{
	char *out;
	int rc = sh(&out, "%s", cmd);
	if (rc != 0)
		fail_msg("`%s` exited with %d: %s", cmd, rc, out);
	free(out);
}

/* The output of cmd must (or must not) contain want. */
static void output_has(const char *cmd, const char *want, bool has)
{
	char *out;
	sh(&out, "%s", cmd);
	if ((strstr(out, want) != NULL) != has)
		fail_msg("`%s` %s \"%s\":\n%s", cmd, has ? "lacks" : "has", want, out);
	free(out);
}

/* A command in the background whose output is read line by line (it runs under `timeout`, so
 * a failing test never waits on it for ever). */
struct bg {
	pid_t pid;
	FILE *out;
};

static pid_t bg_running; /* killed by the teardown when a test fails before bg_stop */

static void bg_start(struct bg *b, const char *cmd)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	b->pid = fork();
	if (b->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	b->out = fdopen(p[0], "r");
	bg_running = b->pid;
}

static char *bg_line(struct bg *b)
{
	static char line[512];
	if (!fgets(line, sizeof(line), b->out))
		return strcpy(line, "(no output)");
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static void bg_stop(struct bg *b)
{
	bg_running = 0;
	kill(-b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	fclose(b->out);
}

static char *ip_forward(void)
{
	static char v[8];
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
	assert_non_null(f);
	assert_non_null(fgets(v, sizeof(v), f));
	fclose(f);
	v[strcspn(v, "\n")] = '\0';
	return v;
}

static void set_ip_forward(const char *v)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "w");
	assert_non_null(f);
	fputs(v, f);
	fclose(f);
}

static struct al_config default_block(void)
{
	struct al_config c;
	cm_err err;
	assert_int_equal(al_config_parse(&c, NULL, NULL, NULL, &err), 0);
	return c;
}

static char *ns_path(uint32_t uid)
{
	static char p[4][128];
	static int i;
	char *s = p[i++ % 4];
	snprintf(s, 128, "%s/ns-%u", tmp, uid);
	return s;
}

static struct hs_net_dyno make_dyno(const struct hs_net_conf *nc, uint32_t uid)
{
	struct al_config c = default_block();
	struct al_subnet sn;
	struct hs_net_dyno d;
	cm_err err;
	assert_int_equal(al_subnet_for_uid(&c, uid, &sn, &err), 0);
	if (hs_net_dyno_create(nc, uid, &sn, ns_path(uid), &d, &err) < 0)
		fail_msg("%s", err.msg);
	return d;
}

static void destroy_dyno(uint32_t uid)
{
	char veth[HS_NET_IFNAMSIZ];
	cm_err err;
	hs_net_veth_name(uid, veth);
	if (hs_net_dyno_destroy(veth, ns_path(uid), &err) < 0)
		fail_msg("%s", err.msg);
}

/* Nothing of any dyno is left: no veth, no namespace file or mount. */
static void nothing_left(void)
{
	output_has("ip -o link show", "hsv", false);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "ls %s", tmp);
	output_has(cmd, "ns-", false);
	output_has("cat /proc/self/mountinfo", "/ns-", false);
}

/* A namespace standing for another machine, joined to the host by a veth pair. */
static void make_peer_ns(const char *name, const char *host_if, const char *peer_if,
                         const char *host_addr, const char *peer_addr)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "touch %1$s/%2$s && unshare --net=%1$s/%2$s true && "
	         "ip link add %3$s type veth peer name %4$s && "
	         "ip link set %4$s netns %1$s/%2$s && ip link set %3$s up && "
	         "nsenter --net=%1$s/%2$s sh -c "
	         "'ip link set lo up && ip addr add %5$s dev %4$s && ip link set %4$s up'",
	         tmp, name, host_if, peer_if, peer_addr);
	must(cmd);
	if (host_addr) {
		snprintf(cmd, sizeof(cmd), "ip addr add %s dev %s", host_addr, host_if);
		must(cmd);
	}
}

static void remove_peer_ns(const char *name, const char *host_if)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "ip link del %s; umount %s/%s; rm -f %s/%s", host_if, tmp, name,
	         tmp, name);
	sh(NULL, "%s", cmd);
}

/* A TCP server in namespace ns at addr:port: prints "ready", then the peer's address, and
 * sends "hi". */
static void serve_once(struct bg *b, const char *ns, const char *addr, int port)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
	         "exec timeout 60 nsenter --net=%s/%s python3 -u %s/server.py %s %d", tmp, ns, tmp,
	         addr, port);
	bg_start(b, cmd);
	assert_string_equal(bg_line(b), "ready");
}

/* What a client in the dyno's namespace receives from addr:port. */
static void dyno_receives(uint32_t uid, const char *addr, int port, const char *want)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "timeout 60 nsenter --net=%s python3 %s/client.py %s %d",
	         ns_path(uid), tmp, addr, port);
	char *out;
	int rc = sh(&out, "%s", cmd);
	if (rc != 0 || strcmp(out, want) != 0)
		fail_msg("`%s` exited with %d and said \"%s\", not \"%s\"", cmd, rc, out, want);
	free(out);
}

/* ---- the variables (no privileges needed) ---- */

struct conf_case {
	const char *extra_if, *routes, *msg;
};

static const struct conf_case bad_conf[] = {
    {"eth1", NULL,
     "LIBCONTAINER_DYNO_EXTRA_INTERFACE \"eth1\" is not hostIF:IP/mask: there is no ':' after "
     "the host interface's name"},
    {":10.0.0.1/24", NULL,
     "LIBCONTAINER_DYNO_EXTRA_INTERFACE \":10.0.0.1/24\": the host interface \"\" is not an "
     "interface name (1 to 15 characters, no '/', ':' or blanks)"},
    {"averyveryverylongname:10.0.0.1/24", NULL,
     "LIBCONTAINER_DYNO_EXTRA_INTERFACE \"averyveryverylongname:10.0.0.1/24\": the host "
     "interface \"averyveryverylongname\" is not an interface name (1 to 15 characters, no "
     "'/', ':' or blanks)"},
    {"eth1:10.0.0.1", NULL,
     "LIBCONTAINER_DYNO_EXTRA_INTERFACE \"eth1:10.0.0.1\": IP/mask \"10.0.0.1\": there is no "
     "'/' and prefix length after the address"},
    {"eth1:10.0.0.1/0", NULL,
     "LIBCONTAINER_DYNO_EXTRA_INTERFACE \"eth1:10.0.0.1/0\": the mask /0 leaves no network"},
    {NULL, "1.2.3.0/24:10.0.0.1",
     "LIBCONTAINER_DYNO_EXTRA_ROUTES item 1 \"1.2.3.0/24:10.0.0.1\" is not "
     "dest/mask:gateway:interface: it has fewer than 3 parts separated by ':'"},
    {NULL, "1.2.3.0/24:default:eth0,", "LIBCONTAINER_DYNO_EXTRA_ROUTES item 2 is empty"},
    {NULL, "1.2.3.0/24:default:eth0:x",
     "LIBCONTAINER_DYNO_EXTRA_ROUTES item 1 \"1.2.3.0/24:default:eth0:x\" is not "
     "dest/mask:gateway:interface: it has more than 3 parts separated by ':'"},
    {NULL, "1.2.3.4/24:default:eth0",
     "LIBCONTAINER_DYNO_EXTRA_ROUTES item 1 \"1.2.3.4/24:default:eth0\": the destination "
     "\"1.2.3.4/24\" has bits set beyond its mask"},
    {NULL, "1.2.3.0/24:10.0.0.1:eth0,4.3.0.0/16:gateway:eth0",
     "LIBCONTAINER_DYNO_EXTRA_ROUTES item 2 \"4.3.0.0/16:gateway:eth0\": the gateway "
     "\"gateway\" is neither an IPv4 address nor default"},
    {NULL, "4.3.0.0/40:default:eth0",
     "LIBCONTAINER_DYNO_EXTRA_ROUTES item 1 \"4.3.0.0/40:default:eth0\": the destination "
     "\"4.3.0.0/40\": the prefix length after '/' is not a number from 0 to 32"},
    {NULL, "1.2.3.0/24:10.0.0.1:eth1",
     "LIBCONTAINER_DYNO_EXTRA_ROUTES item 1 \"1.2.3.0/24:10.0.0.1:eth1\": the interface "
     "\"eth1\" is not one of the dyno's (eth0; eth1 comes with "
     "LIBCONTAINER_DYNO_EXTRA_INTERFACE)"},
    {"eth9:10.0.0.5/24", "1.2.3.0/24:default:eth1",
     "LIBCONTAINER_DYNO_EXTRA_ROUTES item 1 \"1.2.3.0/24:default:eth1\": the gateway default "
     "is the dyno's own, reached through eth0, not \"eth1\""},
    {NULL, "1.2.3.0/24:default:eth0,1.2.3.0/24:10.0.0.1:eth0",
     "LIBCONTAINER_DYNO_EXTRA_ROUTES item 2 has the destination of item 1"},
};

static void bad_network_variables_are_named(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_conf) / sizeof(bad_conf[0]); i++) {
		struct hs_net_conf c;
		cm_err err;
		assert_int_equal(
		    hs_net_conf_parse(&c, bad_conf[i].extra_if, bad_conf[i].routes, &err), -1);
		assert_string_equal(err.msg, bad_conf[i].msg);
		assert_null(c.routes);
	}
}

/* The Go hsup's own functional test's values. */
static void network_variables_parse(void **state)
{
	(void)state;
	struct hs_net_conf c;
	cm_err err;
	assert_int_equal(hs_net_conf_parse(&c, " dummy10:192.168.201.5/24 ",
	                                   "1.2.3.0/24:192.168.201.1:eth1,4.3.0.0/16:192.168.201.1:"
	                                   "eth1,7.7.7.0/24:default:eth0",
	                                   &err),
	                 0);
	char a[AL_ADDR_LEN];
	assert_true(c.extra);
	assert_string_equal(c.extra_host_if, "dummy10");
	assert_string_equal(al_addr_str(c.extra_addr, a), "192.168.201.5");
	assert_int_equal(c.extra_prefix, 24);
	assert_int_equal(c.nroutes, 3);
	assert_string_equal(al_addr_str(c.routes[1].dest, a), "4.3.0.0");
	assert_int_equal(c.routes[1].prefix, 16);
	assert_string_equal(al_addr_str(c.routes[1].gateway, a), "192.168.201.1");
	assert_string_equal(c.routes[1].ifname, "eth1");
	assert_true(c.routes[2].via_default);
	hs_net_conf_free(&c);
	assert_int_equal(hs_net_conf_parse(&c, "", " ", &err), 0);
	assert_false(c.extra);
	assert_int_equal(c.nroutes, 0);
}

/* ---- the host (private namespaces) ---- */

static void two_dynos_get_their_subnets(void **state)
{
	(void)state;
	NEED(skip_reason);
	struct hs_net_conf nc = {0};
	make_dyno(&nc, 3000);
	make_dyno(&nc, 3001);
	output_has("ip -o -4 addr show dev hsv3000", "inet 172.16.0.29/30 brd 172.16.0.31", true);
	output_has("ip -o -4 addr show dev hsv3001", "inet 172.16.0.33/30 brd 172.16.0.35", true);
	output_has("ip -o link show dev hsv3000", ",UP,", true);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip -o -4 addr show dev eth0", ns_path(3000));
	output_has(cmd, "inet 172.16.0.30/30 brd 172.16.0.31", true);
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip -o -4 addr show dev eth0", ns_path(3001));
	output_has(cmd, "inet 172.16.0.34/30 brd 172.16.0.35", true);
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip route show default", ns_path(3001));
	output_has(cmd, "default via 172.16.0.33 dev eth0", true);
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip -o link show lo", ns_path(3000));
	output_has(cmd, "LOOPBACK,UP", true);
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip -o link show eth0", ns_path(3000));
	output_has(cmd, ",UP,", true);
	destroy_dyno(3000);
	destroy_dyno(3001);
	nothing_left();
}

static void host_gets_an_answer_from_the_dyno(void **state)
{
	(void)state;
	NEED(skip_reason);
	struct hs_net_conf nc = {0};
	make_dyno(&nc, 3002); /* 172.16.0.36/30: the dyno is 172.16.0.38 */
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
	         "mkdir -p %1$s/www && echo 'hello from the dyno' > %1$s/www/hello.txt", tmp);
	must(cmd);
	struct bg srv;
	snprintf(cmd, sizeof(cmd),
	         "exec timeout 60 nsenter --net=%s python3 -u -m http.server --bind 172.16.0.38 "
	         "8000 --directory %s/www",
	         ns_path(3002), tmp);
	bg_start(&srv, cmd);
	char *line = bg_line(&srv);
	if (!strstr(line, "Serving HTTP on 172.16.0.38 port 8000"))
		fail_msg("the server says: %s", line);
	char *out;
	int rc = sh(&out, "curl -sS --max-time 30 http://172.16.0.38:8000/hello.txt");
	bg_stop(&srv);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "hello from the dyno\n");
	free(out);
	destroy_dyno(3002);
	nothing_left();
}

static void no_hsup_rules(void)
{
	output_has("iptables-save", "HSUP", false);
}

static void dyno_reaches_the_internet_through_nat(void **state)
{
	(void)state;
	NEED(skip_reason);
	NEED(iptables_reason);
	must("iptables -w -P FORWARD DROP"); /* as Docker leaves it */
	make_peer_ns("inet", "up0", "up1", "198.51.100.2/24", "198.51.100.1/24");
	struct hs_net_conf nc = {0};
	struct al_config c = default_block();
	cm_err err;
	make_dyno(&nc, 3003);
	if (hs_net_host_acquire(state_dir, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(ip_forward(), "1");
	output_has("iptables-save -t nat",
	           "-A HSUP-POSTROUTING -s 172.16.0.0/12 ! -d 172.16.0.0/12 -j MASQUERADE", true);
	output_has("iptables-save -t filter", "-A FORWARD -j HSUP-FORWARD", true);
	struct bg srv;
	serve_once(&srv, "inet", "198.51.100.1", 8080);
	dyno_receives(3003, "198.51.100.1", 8080, "hi");
	/* "the internet" saw the host's address, not the dyno's: masqueraded */
	assert_string_equal(bg_line(&srv), "198.51.100.2");
	bg_stop(&srv);
	if (hs_net_host_release(state_dir, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(ip_forward(), "0");
	no_hsup_rules();
	output_has("iptables-save -t filter", ":FORWARD DROP", true); /* policies are not ours */
	must("iptables -w -P FORWARD ACCEPT");
	destroy_dyno(3003);
	remove_peer_ns("inet", "up0");
	nothing_left();
}

static void extra_interface_and_routes(void **state)
{
	(void)state;
	NEED(skip_reason);
	make_peer_ns("lan", "lan0", "lan1", NULL, "192.0.2.1/24");
	struct hs_net_conf nc;
	cm_err err;
	assert_int_equal(
	    hs_net_conf_parse(&nc, "lan0:192.0.2.5/24",
	                      "198.18.0.0/15:192.0.2.1:eth1,203.0.113.0/24:default:eth0", &err),
	    0);
	struct hs_net_dyno d = make_dyno(&nc, 3004); /* 172.16.0.44/30 */
	print_message("# the extra interface is a %s\n", d.extra_kind);
	assert_non_null(d.extra_kind);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip -d -o link show eth1", ns_path(3004));
	output_has(cmd, d.extra_kind, true);
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip -o -4 addr show dev eth1", ns_path(3004));
	output_has(cmd, "inet 192.0.2.5/24", true);
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip route", ns_path(3004));
	output_has(cmd, "198.18.0.0/15 via 192.0.2.1 dev eth1", true);
	output_has(cmd, "203.0.113.0/24 via 172.16.0.45 dev eth0", true);
	output_has(cmd, "default via 172.16.0.45 dev eth0", true);
	/* the LAN is reached through eth1, from its address */
	struct bg srv;
	serve_once(&srv, "lan", "192.0.2.1", 8081);
	dyno_receives(3004, "192.0.2.1", 8081, "hi");
	assert_string_equal(bg_line(&srv), "192.0.2.5");
	bg_stop(&srv);
	/* a process still in the namespace keeps it alive: its interfaces go all the same */
	struct bg holder;
	snprintf(cmd, sizeof(cmd), /* "held" once inside */
	         "exec nsenter --net=%s timeout 60 sh -c 'echo held; exec sleep 60'",
	         ns_path(3004));
	bg_start(&holder, cmd);
	assert_string_equal(bg_line(&holder), "held");
	snprintf(cmd, sizeof(cmd), "nsenter -t %d -n ip -o link show", (int)holder.pid);
	output_has(cmd, "eth1@", true);
	destroy_dyno(3004);
	output_has(cmd, "eth1", false);
	output_has(cmd, "eth0", false);
	bg_stop(&holder);
	hs_net_conf_free(&nc);
	remove_peer_ns("lan", "lan0");
	nothing_left();
}

/* An hsup that is killed with its dyno up: the next start finds the reservation, removes
 * what it names and frees it; nothing stays. */
static void kill9_then_a_new_start_leaks_nothing(void **state)
{
	(void)state;
	NEED(skip_reason);
	NEED(iptables_reason);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t kid = fork();
	if (kid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no child behind */
		close(p[0]);
		struct al_config c = default_block();
		struct al_alloc *a;
		struct al_subnet sn;
		struct hs_net_conf nc = {0};
		struct hs_net_dyno d;
		cm_err err;
		uint32_t uid = 0;
		char veth[HS_NET_IFNAMSIZ];
		int ok = al_open(state_dir, &c, &a, &err) == 0 && al_reserve(a, &uid, &err) == 0;
		hs_net_veth_name(uid, veth);
		struct al_field f[] = {{"veth", veth}, {"netns", ns_path(uid)}};
		ok = ok && al_record(a, uid, f, 2, &err) == 0 &&
		     al_subnet_for_uid(&c, uid, &sn, &err) == 0 &&
		     hs_net_host_acquire(state_dir, &c, &err) == 0 &&
		     hs_net_dyno_create(&nc, uid, &sn, ns_path(uid), &d, &err) == 0;
		if (!ok)
			fprintf(stderr, "child: %s\n", err.msg);
		uid = ok ? uid : 0;
		if (write(p[1], &uid, sizeof(uid)) != sizeof(uid))
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	uint32_t uid = 0;
	assert_int_equal(read(p[0], &uid, sizeof(uid)), sizeof(uid));
	close(p[0]);
	assert_true(uid != 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ip -o link show dev hsv%u", uid);
	must(cmd);
	assert_string_equal(ip_forward(), "1");
	kill(kid, SIGKILL);
	assert_int_equal(waitpid(kid, NULL, 0), kid);

	/* the next hsup */
	struct al_config c = default_block();
	struct al_alloc *a;
	struct al_reservation *dead;
	size_t n;
	cm_err err;
	assert_int_equal(al_open(state_dir, &c, &a, &err), 0);
	assert_int_equal(al_list_dead(a, &dead, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dead[0].uid, uid);
	if (hs_net_dyno_destroy(al_field(&dead[0], "veth"), al_field(&dead[0], "netns"), &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(al_release_dead(a, &dead[0], &err), 0);
	al_reservations_free(dead, n);
	if (hs_net_host_release(state_dir, &err) < 0) /* repairs what the dead one set */
		fail_msg("%s", err.msg);
	assert_int_equal(al_list_dead(a, &dead, &n, &err), 0);
	assert_int_equal(n, 0);
	al_reservations_free(dead, n);
	al_close(a);
	assert_string_equal(ip_forward(), "0");
	no_hsup_rules();
	nothing_left();
	snprintf(cmd, sizeof(cmd), "ls %s/uids %s/net", state_dir, state_dir);
	output_has(cmd, "user.", false);
	output_has(cmd, "state.json", false);
	output_has(cmd, "300", false);
}

static void destroy_is_safe_on_what_a_crash_left(void **state)
{
	(void)state;
	NEED(skip_reason);
	cm_err err;
	/* nothing at all */
	assert_int_equal(hs_net_dyno_destroy("hsv3990", ns_path(3990), &err), 0);
	/* the namespace's file, not yet mounted */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "touch %s", ns_path(3991));
	must(cmd);
	assert_int_equal(hs_net_dyno_destroy("hsv3991", ns_path(3991), &err), 0);
	/* a mounted namespace without any link */
	snprintf(cmd, sizeof(cmd), "touch %1$s && unshare --net=%1$s true", ns_path(3992));
	must(cmd);
	assert_int_equal(hs_net_dyno_destroy("hsv3992", ns_path(3992), &err), 0);
	/* only the veth pair, its peer not yet moved */
	must("ip link add hsv3993 type veth peer name hsp3993");
	assert_int_equal(hs_net_dyno_destroy("hsv3993", NULL, &err), 0);
	output_has("ip -o link show", "hsp3993", false);
	nothing_left();
	/* what is not a dyno's is refused and left alone */
	assert_int_equal(hs_net_dyno_destroy("lo", NULL, &err), -1);
	assert_string_equal(err.msg, "\"lo\" is not the name of a dyno's veth");
	output_has("ip -o link show lo", "lo", true);
	snprintf(cmd, sizeof(cmd), "mkdir %s", ns_path(3994));
	must(cmd);
	assert_int_equal(hs_net_dyno_destroy("hsv3994", ns_path(3994), &err), -1);
	snprintf(cmd, sizeof(cmd), "%s is a directory, not a network namespace's file: left alone",
	         ns_path(3994));
	assert_string_equal(err.msg, cmd);
	assert_int_equal(rmdir(ns_path(3994)), 0);
}

static void a_failed_create_leaves_nothing(void **state)
{
	(void)state;
	NEED(skip_reason);
	struct hs_net_conf nc;
	cm_err err;
	assert_int_equal(hs_net_conf_parse(&nc, "nosuch0:192.0.2.5/24", NULL, &err), 0);
	struct al_config c = default_block();
	struct al_subnet sn;
	struct hs_net_dyno d;
	assert_int_equal(al_subnet_for_uid(&c, 3995, &sn, &err), 0);
	assert_int_equal(hs_net_dyno_create(&nc, 3995, &sn, ns_path(3995), &d, &err), -1);
	assert_string_equal(err.msg, "network of the dyno with UID 3995: "
	                             "LIBCONTAINER_DYNO_EXTRA_INTERFACE: host interface nosuch0: "
	                             "find interface nosuch0: No such device");
	hs_net_conf_free(&nc);
	nothing_left();
	/* a namespace file already there (another's): refused, and left as it was */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "echo keep > %s", ns_path(3996));
	must(cmd);
	struct hs_net_conf none = {0};
	assert_int_equal(al_subnet_for_uid(&c, 3996, &sn, &err), 0);
	assert_int_equal(hs_net_dyno_create(&none, 3996, &sn, ns_path(3996), &d, &err), -1);
	assert_int_equal(err.code, EEXIST);
	snprintf(cmd, sizeof(cmd), "cat %s", ns_path(3996));
	output_has(cmd, "keep", true);
	output_has("ip -o link show", "hsv3996", false);
	assert_int_equal(unlink(ns_path(3996)), 0);
	/* a veth of that name already there: refused, and not deleted */
	must("ip link add hsv3997 type veth peer name hsq3997");
	assert_int_equal(al_subnet_for_uid(&c, 3997, &sn, &err), 0);
	assert_int_equal(hs_net_dyno_create(&none, 3997, &sn, ns_path(3997), &d, &err), -1);
	assert_int_equal(err.code, EEXIST);
	output_has("ip -o link show", "hsv3997", true);
	must("ip link del hsv3997");
	nothing_left();
}

/* A child that acquires forwarding for block and waits to be killed. */
static pid_t acquiring_child(const char *block)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t kid = fork();
	if (kid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no child behind */
		close(p[0]);
		struct al_config c;
		cm_err err;
		char ok = al_config_parse(&c, block, "1", "1", &err) == 0 &&
		          hs_net_host_acquire(state_dir, &c, &err) == 0;
		if (!ok)
			fprintf(stderr, "child: %s\n", err.msg);
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	char ok = 0;
	assert_int_equal(read(p[0], &ok, 1), 1);
	close(p[0]);
	assert_true(ok);
	return kid;
}

static void forwarding_lasts_until_the_last_hsup(void **state)
{
	(void)state;
	NEED(skip_reason);
	NEED(iptables_reason);
	struct al_config c = default_block();
	cm_err err;
	pid_t other = acquiring_child("10.200.0.0/16");
	assert_int_equal(hs_net_host_acquire(state_dir, &c, &err), 0);
	assert_int_equal(hs_net_host_acquire(state_dir, &c, &err), 0); /* again: no change */
	output_has("iptables-save -t nat | grep -c MASQUERADE", "2", true);
	output_has("iptables-save -t nat", "-s 10.200.0.0/16 ! -d 10.200.0.0/16 -j MASQUERADE",
	           true);
	output_has("iptables-save -t nat | grep -c 'POSTROUTING -j HSUP'", "1", true);
	assert_int_equal(hs_net_host_release(state_dir, &err), 0);
	/* the other hsup still lives: its block stays, ours goes */
	assert_string_equal(ip_forward(), "1");
	output_has("iptables-save -t nat", "10.200.0.0/16", true);
	output_has("iptables-save -t nat", "172.16.0.0/12", false);
	kill(other, SIGKILL);
	assert_int_equal(waitpid(other, NULL, 0), other);
	/* a process that never acquired repairs what the dead one left */
	assert_int_equal(hs_net_host_release(state_dir, &err), 0);
	assert_string_equal(ip_forward(), "0");
	no_hsup_rules();
	/* a forwarding host stays one */
	set_ip_forward("1");
	assert_int_equal(hs_net_host_acquire(state_dir, &c, &err), 0);
	assert_int_equal(hs_net_host_release(state_dir, &err), 0);
	assert_string_equal(ip_forward(), "1");
	set_ip_forward("0");
	no_hsup_rules();
}

static void forwarding_needs_iptables(void **state)
{
	(void)state;
	NEED(skip_reason);
	/* without iptables in its path, acquiring fails by name and changes nothing */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "mkdir -p %1$s/empty && mount --bind %1$s/empty /usr/sbin", tmp);
	if (access("/usr/sbin/iptables-restore", X_OK) != 0) {
		print_message("# skip: iptables is not installed\n");
		skip();
	}
	must(cmd);
	struct al_config c = default_block();
	cm_err err;
	int rc = hs_net_host_acquire(state_dir, &c, &err);
	sh(NULL, "umount /usr/sbin");
	assert_int_equal(rc, -1);
	assert_true(strstr(err.msg, "iptables-save is not installed (Debian: iptables)") != NULL);
	assert_string_equal(ip_forward(), "0");
	snprintf(cmd, sizeof(cmd), "ls %s/net", state_dir);
	output_has(cmd, "user.", false);
	output_has(cmd, "state.json", false);
}

/* ---- the private host ---- */

/* After each test, passed or failed: the private host as it was, so that one failure does
 * not fail the tests after it. */
static int scrub(void **state)
{
	(void)state;
	if (skip_reason)
		return 0;
	if (bg_running > 0) {
		kill(-bg_running, SIGKILL);
		waitpid(bg_running, NULL, 0);
		bg_running = 0;
	}
	sh(NULL,
	   "for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | "
	   "grep -E '^(hsv|hsp|hsq|up0|lan0)'); do ip link del $l; done; "
	   "for f in %1$s/ns-* %1$s/inet %1$s/lan; do umount -l $f; rm -rf $f; done; "
	   "rm -rf %2$s/uids %2$s/net; echo 0 > /proc/sys/net/ipv4/ip_forward; "
	   "iptables -w -P FORWARD ACCEPT; "
	   "for t in 'nat POSTROUTING %3$s' 'filter FORWARD %4$s'; do set -- $t; "
	   "while iptables -w -t $1 -D $2 -j $3; do :; done; "
	   "iptables -w -t $1 -F $3; iptables -w -t $1 -X $3; done",
	   tmp, state_dir, HS_NET_CHAIN_NAT, HS_NET_CHAIN_FORWARD);
	return 0;
}

static const char server_py[] = "import socket, sys\n"
                                "s = socket.socket()\n"
                                "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                                "s.bind((sys.argv[1], int(sys.argv[2])))\n"
                                "s.listen(1)\n"
                                "print('ready', flush=True)\n"
                                "c, a = s.accept()\n"
                                "print(a[0], flush=True)\n"
                                "c.sendall(b'hi')\n"
                                "c.close()\n";

static const char client_py[] =
    "import socket, sys\n"
    "c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)\n"
    "sys.stdout.write(c.recv(16).decode())\n";

static void write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static bool have(const char *prog)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", prog);
	return sh(NULL, "%s", cmd) == 0;
}

static void private_host(void)
{
	static char why[256];
	if (geteuid() != 0) {
		skip_reason = "needs root (network namespaces, veth pairs, mounts)";
		return;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(why, sizeof(why), "cannot make private network and mount namespaces: %s",
		         strerror(errno));
		skip_reason = why;
		return;
	}
	snprintf(tmp, sizeof(tmp), "/tmp/hsup-net-test.XXXXXX");
	if (!mkdtemp(tmp) || mount("tmpfs", tmp, "tmpfs", 0, "mode=0700") < 0) {
		snprintf(why, sizeof(why), "cannot mount a tmpfs: %s", strerror(errno));
		skip_reason = why;
		return;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmp);
	mkdir(state_dir, 0700);
	write_file("server.py", server_py);
	write_file("client.py", client_py);
	const char *progs[] = {"ip", "nsenter", "unshare", "python3", "curl"};
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (!have(progs[i])) {
			snprintf(why, sizeof(why), "%s is not installed (scripts/deps.sh)",
			         progs[i]);
			skip_reason = why;
			return;
		}
	if (!have("iptables-restore") || sh(NULL, "iptables -w -L >/dev/null") != 0)
		iptables_reason = "iptables is not installed or does not work here";
	sh(NULL, "ip link set lo up");
}

int main(void)
{
	private_host();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bad_network_variables_are_named),
	    cmocka_unit_test(network_variables_parse),
	    cmocka_unit_test_teardown(two_dynos_get_their_subnets, scrub),
	    cmocka_unit_test_teardown(host_gets_an_answer_from_the_dyno, scrub),
	    cmocka_unit_test_teardown(dyno_reaches_the_internet_through_nat, scrub),
	    cmocka_unit_test_teardown(extra_interface_and_routes, scrub),
	    cmocka_unit_test_teardown(kill9_then_a_new_start_leaks_nothing, scrub),
	    cmocka_unit_test_teardown(destroy_is_safe_on_what_a_crash_left, scrub),
	    cmocka_unit_test_teardown(a_failed_create_leaves_nothing, scrub),
	    cmocka_unit_test_teardown(forwarding_lasts_until_the_last_hsup, scrub),
	    cmocka_unit_test_teardown(forwarding_needs_iptables, scrub),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (tmp[0]) {
		umount2(tmp, MNT_DETACH);
		rmdir(tmp);
	}
	return rc;
}
