/* libcontainer's config: OCI JSON parsing, the default spec, and errors that name the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "libcontainer/config.h"
#include "libcontainer/seccomp.h"
#include "common/strv.h"

/* What `runc spec` writes (crun spec is the same but for ociVersion and hostname). */
static const char runc_spec[] =
    "{\"ociVersion\": \"1.0.2-dev\", \"process\": {\"terminal\": true, \"user\": {\"uid\": 0, "
    "\"gid\": 0}, \"args\": [\"sh\"], \"env\": [\"PATH=/usr/bin:/bin\", \"TERM=xterm\"], "
    "\"cwd\": \"/\", \"capabilities\": {\"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\"], "
    "\"effective\": [\"CAP_KILL\"], \"permitted\": [\"CAP_KILL\"], \"ambient\": [\"CAP_KILL\"]}, "
    "\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}], "
    "\"noNewPrivileges\": true}, \"root\": {\"path\": \"rootfs\", \"readonly\": true}, "
    "\"hostname\": \"runc\", \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", "
    "\"source\": \"proc\"}, {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": "
    "\"devpts\", \"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\"]}], "
    "\"linux\": {\"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]}, "
    "\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"}, "
    "{\"type\": \"uts\"}, {\"type\": \"mount\"}], \"maskedPaths\": [\"/proc/kcore\"], "
    "\"readonlyPaths\": [\"/proc/sys\"]}}";

static void runc_spec_parses(void **state)
{
	(void)state;
	struct lc_config *c;
	cm_err err;
	assert_int_equal(lc_config_parse(runc_spec, &c, &err), 0);
	assert_string_equal(c->hostname, "runc");
	assert_true(c->process.terminal);
	assert_string_equal(c->process.args[0], "sh");
	assert_int_equal(c->n_mounts, 2);
	assert_string_equal(c->mounts[1].options[2], "newinstance");
	assert_int_equal(c->n_namespaces, 5);
	assert_string_equal(c->process.caps[LC_CAP_AMBIENT][0], "CAP_KILL");
	assert_int_equal(c->process.rlimits[0].hard, 1024);
	assert_false(c->resources.devices[0].allow);
	assert_int_equal(c->resources.devices[0].major, -1);
	assert_true(c->root_readonly);
	lc_config_free(c);
}

static void default_spec_round_trips(void **state)
{
	(void)state;
	struct lc_config *def = lc_spec_default(), *back;
	cm_err err;
	assert_int_equal(lc_config_validate(def, &err), 0);
	char *json = lc_config_to_json(def);
	assert_int_equal(lc_config_parse(json, &back, &err), 0);
	char *again = lc_config_to_json(back);
	assert_string_equal(json, again);
	assert_int_equal(back->n_namespaces, 5);
	assert_int_equal(cm_strv_len(back->process.caps[LC_CAP_BOUNDING]), 14);
	assert_non_null(back->seccomp);
	free(json);
	free(again);
	lc_config_free(def);
	lc_config_free(back);
}

/* Parses text expecting failure, and checks the message holds want. */
static void expect_error(const char *text, const char *want)
{
	struct lc_config *c = NULL;
	cm_err err;
	if (lc_config_parse(text, &c, &err) == 0) {
		lc_config_free(c);
		fail_msg("parsed, but expected an error with \"%s\"", want);
	}
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

#define BASE "\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"]}"
#define NS   "\"namespaces\": [{\"type\": \"mount\"}]"

static struct lc_config *must_parse(const char *text)
{
	struct lc_config *c = NULL;
	cm_err err;
	if (lc_config_parse(text, &c, &err) < 0)
		fail_msg("%s", err.msg);
	return c;
}

/* The spec: unknown properties MUST NOT be an error. A known feature that cannot be honoured
 * still is, by name. */
static void unknown_fields_are_ignored(void **state)
{
	(void)state;
	lc_config_free(must_parse("{" BASE ", \"futureTopLevel\": {\"x\": 1}, \"linux\": {" NS
	                          ", \"futureLinux\": true, \"resources\": {\"memory\": "
	                          "{\"futureMem\": 1}}}, \"mounts\": [{\"destination\": \"/a\", "
	                          "\"type\": \"tmpfs\", \"bogus\": 1}], \"windows\": {}}"));
	lc_config_free(must_parse("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	                          "\"capabilities\": {\"bounding\": [], \"extra\": []}}, "
	                          "\"linux\": {" NS "}}"));
	expect_error("{" BASE ", \"linux\": {" NS ", \"intelRdt\": {\"closID\": \"x\"}}}",
	             "unsupported field linux.intelRdt: Intel RDT is not supported");
	expect_error("{" BASE ", \"linux\": {" NS ", \"resources\": {\"rdma\": {\"mlx\": {}}}}}",
	             "unsupported field linux.resources.rdma");
	expect_error("{" BASE ", \"linux\": {" NS ", \"resources\": {\"network\": "
	             "{\"classID\": 1}}}}",
	             "unsupported field linux.resources.network.classID");
	expect_error("{" BASE ", \"linux\": {" NS ", \"timeOffsets\": {\"boottime\": "
	             "{\"secs\": 1}}}}",
	             "unsupported field linux.timeOffsets");
	expect_error("{" BASE ", \"linux\": {" NS ", \"resources\": {\"blockIO\": "
	             "{\"leafWeight\": 10}}}}",
	             "unsupported field linux.resources.blockIO.leafWeight");
	expect_error("{" BASE ", \"linux\": {" NS ", \"personality\": {\"domain\": \"LINUX\", "
	             "\"flags\": [\"X\"]}}}",
	             "unsupported field linux.personality.flags");
}

static void oci_version_is_a_version(void **state)
{
	(void)state;
	lc_config_free(
	    must_parse("{\"ociVersion\": \"1.2.0-rc.1+meta\", " BASE ", \"linux\": {" NS "}}"));
	expect_error("{\"ociVersion\": \"banana\", " BASE ", \"linux\": {" NS "}}",
	             "field ociVersion: banana is not a version");
	expect_error("{\"ociVersion\": \"1.0\", " BASE ", \"linux\": {" NS "}}",
	             "field ociVersion: 1.0 is not a version");
	expect_error("{\"ociVersion\": 1, " BASE ", \"linux\": {" NS "}}",
	             "field ociVersion: expected a string");
}

/* The fields engines send: parsed, kept through the saved config, bad values named. */
static void engine_fields_round_trip(void **state)
{
	(void)state;
	struct lc_config *c = must_parse(
	    "{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"user\": {\"uid\": "
	    "0, "
	    "\"gid\": 0, \"umask\": 18}, \"selinuxLabel\": \"system_u:system_r:c:s0\", "
	    "\"apparmorProfile\": \"docker-default\", \"ioPriority\": {\"class\": "
	    "\"IOPRIO_CLASS_BE\", \"priority\": 6}, \"scheduler\": {\"policy\": \"SCHED_BATCH\", "
	    "\"nice\": 5, \"flags\": [\"SCHED_FLAG_RESET_ON_FORK\"]}}, \"hooks\": {\"prestart\": "
	    "[{\"path\": \"/bin/true\", \"args\": [\"true\", \"x\"], \"env\": [\"A=1\"], "
	    "\"timeout\": 3}], \"poststop\": [{\"path\": \"/bin/false\"}]}, \"linux\": {" NS
	    ", \"mountLabel\": \"system_u:object_r:f:s0\", \"personality\": {\"domain\": "
	    "\"LINUX32\"}, \"resources\": {\"memory\": {\"swappiness\": 10, \"kernel\": 1048576, "
	    "\"kernelTCP\": 2097152, \"disableOOMKiller\": true}, \"blockIO\": {\"weight\": 10, "
	    "\"throttleReadBpsDevice\": [{\"major\": 7, \"minor\": 0, \"rate\": 1000}]}, "
	    "\"unified\": {\"memory.high\": \"max\"}, \"network\": {}}}}");
	char *json = lc_config_to_json(c);
	struct lc_config *back = must_parse(json);
	free(json);
	for (int i = 0; i < 2; i++) {
		struct lc_config *x = i ? back : c;
		assert_int_equal(x->process.umask, 022);
		assert_string_equal(x->process.apparmor_profile, "docker-default");
		assert_int_equal(x->process.io_prio_class, 2);
		assert_int_equal(x->process.io_prio_level, 6);
		assert_int_equal(x->process.scheduler->nice, 5);
		assert_int_equal(x->process.scheduler->flags, 1);
		assert_int_equal(x->n_hooks[LC_HOOK_PRESTART], 1);
		assert_string_equal(x->hooks[LC_HOOK_PRESTART][0].args[1], "x");
		assert_string_equal(x->hooks[LC_HOOK_PRESTART][0].env[0], "A=1");
		assert_int_equal(x->hooks[LC_HOOK_PRESTART][0].timeout, 3);
		assert_int_equal(x->hooks[LC_HOOK_POSTSTOP][0].timeout, LC_UNSET);
		assert_int_equal(x->resources.memory_swappiness, 10);
		assert_int_equal(x->resources.memory_kernel_tcp, 2097152);
		assert_int_equal(x->resources.disable_oom_killer, 1);
		assert_int_equal(x->resources.blkio_throttle[LC_THROTTLE_READ_BPS][0].rate, 1000);
		assert_string_equal(x->resources.unified[0].key, "memory.high");
		assert_int_equal(x->personality, 8); /* PER_LINUX32 */
	}
	lc_config_free(back);
	lc_config_free(c);
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"user\": "
	             "{\"uid\": 0, \"gid\": 0, \"umask\": 4096}}}",
	             "field process.user.umask: expected a mode");
	expect_error("{" BASE ", \"hooks\": {\"poststart\": [{\"path\": \"rel\"}]}}",
	             "field hooks.poststart[0].path: expected an absolute path");
	expect_error("{" BASE ", \"hooks\": {\"poststart\": [{\"path\": \"/x\", \"timeout\": 0}]}}",
	             "field hooks.poststart[0].timeout");
	expect_error("{" BASE ", \"hooks\": {\"createRuntime\": [{\"args\": []}]}}",
	             "field hooks.createRuntime[0].path: missing");
	expect_error("{" BASE ", \"linux\": {" NS ", \"resources\": {\"memory\": "
	             "{\"swappiness\": 101}}}}",
	             "linux.resources.memory.swappiness");
	expect_error("{" BASE ", \"linux\": {" NS ", \"resources\": {\"unified\": "
	             "{\"../memory.max\": \"1\"}}}}",
	             "not a cgroup v2 interface file");
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	             "\"scheduler\": {\"policy\": \"SCHED_FAST\"}}}",
	             "process.scheduler.policy: unknown value SCHED_FAST");
}

/* No mount namespace: the host's mounts are shared, so nothing may be mounted. */
static void no_mount_namespace(void **state)
{
	(void)state;
	lc_config_free(
	    must_parse("{" BASE ", \"linux\": {\"namespaces\": [{\"type\": \"pid\"}]}}"));
	expect_error("{" BASE ", \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\"}]}",
	             "field mounts: needs a mount namespace");
	expect_error("{" BASE ", \"linux\": {\"maskedPaths\": [\"/proc/kcore\"]}}",
	             "field linux.maskedPaths: needs a mount namespace");
}

/* Every required field, when missing, is named by its path; so is a mistyped one. */
static void missing_fields_are_named(void **state)
{
	(void)state;
#define LINUX(x) "{" BASE ", \"linux\": {" NS ", " x "}}"
	expect_error("{" BASE ", \"mounts\": [{\"type\": \"tmpfs\", \"source\": \"tmpfs\"}]}",
	             "field mounts[0].destination: missing");
	expect_error("{" BASE ", \"mounts\": [{\"destination\": null}]}",
	             "field mounts[0].destination: expected a string");
	expect_error("{" BASE ", \"linux\": {" NS "}, \"mounts\": [{\"destination\": \"/x\"}]}",
	             "field mounts[0].type: missing");
	expect_error("{" BASE ", \"mounts\": \"/x\"}", "field mounts: expected an array");
	expect_error("{\"process\": {\"args\": [\"sh\"]}, \"linux\": {" NS "}}",
	             "field root.path: missing");
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	             "\"user\": {\"gid\": 0}}, \"linux\": {" NS "}}",
	             "field process.user.uid: missing");
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	             "\"rlimits\": [{\"type\": \"RLIMIT_CORE\", \"hard\": 1}]}, \"linux\": {" NS
	             "}}",
	             "field process.rlimits[0].soft: missing");
	expect_error("{" BASE ", \"linux\": {\"namespaces\": [{\"path\": \"/x\"}]}}",
	             "field linux.namespaces[0].type: missing");
	expect_error(LINUX("\"devices\": [{\"path\": \"/dev/x\"}]"),
	             "field linux.devices[0].type: missing");
	expect_error(LINUX("\"devices\": [{\"type\": \"c\", \"major\": 1, \"minor\": 1}]"),
	             "field linux.devices[0].path: missing");
	expect_error(LINUX("\"devices\": [{\"type\": \"c\", \"path\": \"/dev/x\", \"minor\": 1}]"),
	             "field linux.devices[0].major: missing");
	expect_error(LINUX("\"devices\": [{\"type\": \"c\", \"path\": \"dev/x\", \"major\": 1, "
	                   "\"minor\": 1}]"),
	             "field linux.devices[0].path: dev/x is not an absolute path");
	expect_error(LINUX("\"resources\": {\"devices\": [{\"access\": \"rwm\"}]}"),
	             "field linux.resources.devices[0].allow: missing");
	expect_error(LINUX("\"resources\": {\"hugepageLimits\": [{\"limit\": 1}]}"),
	             "field linux.resources.hugepageLimits[0].pageSize: missing");
	expect_error(LINUX("\"resources\": {\"hugepageLimits\": [{\"pageSize\": \"2MB\"}]}"),
	             "field linux.resources.hugepageLimits[0].limit: missing");
	expect_error(LINUX("\"resources\": {\"hugepageLimits\": {\"2MB\": 1}}"),
	             "field linux.resources.hugepageLimits: expected an array");
	expect_error(LINUX("\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
	                   "[{\"action\": \"SCMP_ACT_ERRNO\"}]}"),
	             "field linux.seccomp.syscalls[0].names: missing");
	expect_error(LINUX("\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
	                   "[{\"names\": [\"kill\"]}]}"),
	             "field linux.seccomp.syscalls[0].action: missing");
	expect_error(LINUX("\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
	                   "[{\"names\": [\"kill\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": "
	                   "[{\"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}"),
	             "field linux.seccomp.syscalls[0].args[0].index: missing");
	expect_error(LINUX("\"seccomp\": {\"syscalls\": []}"),
	             "field linux.seccomp.defaultAction: missing");
	expect_error("{" BASE ", \"linux\": {\"namespaces\": [{\"type\": \"mount\"}, "
	             "{\"type\": \"user\"}], \"uidMappings\": [{\"containerID\": 0, \"hostID\": "
	             "1000}], \"gidMappings\": []}}",
	             "field linux.uidMappings[0].size: missing");
#undef LINUX
}

/* 4294967295 is (uid_t)-1: setresuid would leave the process root. Refused everywhere. */
static void ids_are_checked(void **state)
{
	(void)state;
#define USER(x)                                                                                    \
	"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"user\": " x             \
	"}, \"linux\": {" NS "}}"
	expect_error(USER("{\"uid\": 4294967295, \"gid\": 0}"),
	             "field process.user.uid: expected an id from 0 to 4294967294");
	expect_error(USER("{\"uid\": 0, \"gid\": -1}"),
	             "field process.user.gid: expected an id from 0 to 4294967294");
	expect_error(USER("{\"uid\": 0, \"gid\": 0, \"additionalGids\": [1, 4294967295]}"),
	             "field process.user.additionalGids[1]: expected an id");
	expect_error("{" BASE ", \"linux\": {" NS ", \"devices\": [{\"type\": \"c\", \"path\": "
	             "\"/dev/x\", \"major\": 1, \"minor\": 1, \"uid\": 4294967295}]}}",
	             "field linux.devices[0].uid: expected an id");
	expect_error(
	    "{" BASE ", \"linux\": {\"namespaces\": [{\"type\": \"mount\"}, {\"type\": "
	    "\"user\"}], \"uidMappings\": [{\"containerID\": 0, \"hostID\": 4294967295, "
	    "\"size\": 1}], \"gidMappings\": [{\"containerID\": 0, \"hostID\": 0, \"size\": "
	    "1}]}}",
	    "field linux.uidMappings[0].hostID: expected an id");
	expect_error("{" BASE ", \"linux\": {\"namespaces\": [{\"type\": \"mount\"}, {\"type\": "
	             "\"user\"}], \"uidMappings\": [{\"containerID\": 0, \"hostID\": 4294967000, "
	             "\"size\": 1000}], \"gidMappings\": [{\"containerID\": 0, \"hostID\": 0, "
	             "\"size\": 1}]}}",
	             "field linux.uidMappings[0]: ids 0 to 999 and 4294967000 to 4294967999");
#undef USER
	/* a config built in memory is checked the same */
	struct lc_config *c = lc_spec_default();
	cm_err err;
	c->process.uid = UINT32_MAX;
	assert_int_equal(lc_config_validate(c, &err), -1);
	assert_non_null(strstr(err.msg, "field process.user.uid"));
	c->process.uid = 0;
	free(c->mounts[0].destination);
	c->mounts[0].destination = NULL;
	assert_int_equal(lc_config_validate(c, &err), -1);
	assert_string_equal(err.msg, "field mounts[0].destination: missing");
	lc_config_free(c);
}

static void cgroups_path_stays_in_the_hierarchy(void **state)
{
	(void)state;
	static const char *const bad[] = {"../x", "a/../../x", "/a/./b", "..", "/", "///", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text),
		         "{" BASE ", \"linux\": {" NS ", \"cgroupsPath\": \"%s\"}}", bad[i]);
		expect_error(text, "field linux.cgroupsPath");
	}
	struct lc_config *c;
	cm_err err;
	assert_int_equal(lc_config_parse("{" BASE ", \"linux\": {" NS ", \"cgroupsPath\": "
	                                 "\"/a/b..c/d\"}}",
	                                 &c, &err),
	                 0);
	lc_config_free(c);
}

/* process.consoleSize: the window a pty starts with, in unsigned shorts, both sides given. */
static void console_size(void **state)
{
	(void)state;
	struct lc_config *c, *back;
	cm_err err;
	const char *text = "{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	                   "\"terminal\": true, \"consoleSize\": {\"height\": 17, \"width\": 91}}, "
	                   "\"linux\": {" NS "}}";
	if (lc_config_parse(text, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c->process.console_rows, 17);
	assert_int_equal(c->process.console_cols, 91);
	char *json = lc_config_to_json(c);
	if (lc_config_parse(json, &back, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(back->process.console_rows, 17);
	assert_int_equal(back->process.console_cols, 91);
	free(json);
	lc_config_free(back);
	lc_config_free(c);
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	             "\"consoleSize\": {\"height\": 65536, \"width\": 80}}}",
	             "process.consoleSize.height");
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	             "\"consoleSize\": {\"height\": 24}}}",
	             "process.consoleSize.width: missing");
}

static void hugepage_limits_are_an_array(void **state)
{
	(void)state;
	struct lc_config *c;
	cm_err err;
	const char *text = "{" BASE ", \"linux\": {" NS ", \"resources\": {\"hugepageLimits\": "
	                   "[{\"pageSize\": \"2MB\", \"limit\": 209715200}, {\"pageSize\": "
	                   "\"1GB\", \"limit\": 0}]}}}";
	assert_int_equal(lc_config_parse(text, &c, &err), 0);
	assert_int_equal(c->resources.n_hugepage_limits, 2);
	assert_string_equal(c->resources.hugepage_limits[0].page_size, "2MB");
	assert_true(c->resources.hugepage_limits[0].limit == 209715200);
	assert_string_equal(c->resources.hugepage_limits[1].page_size, "1GB");
	/* and back through JSON unchanged */
	char *json = lc_config_to_json(c), *again;
	struct lc_config *back;
	assert_int_equal(lc_config_parse(json, &back, &err), 0);
	again = lc_config_to_json(back);
	assert_string_equal(json, again);
	assert_non_null(strstr(json, "\"hugepageLimits\""));
	free(json);
	free(again);
	lc_config_free(back);
	lc_config_free(c);
	/* the page size names a file: nothing but a size */
	static const char *const bad[] = {"2M", "../x", "2MB/..", "0MB", "MB", "2XB", "2MBB"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char t[256];
		snprintf(t, sizeof(t),
		         "{" BASE ", \"linux\": {" NS ", \"resources\": {\"hugepageLimits\": "
		         "[{\"pageSize\": \"%s\", \"limit\": 1}]}}}",
		         bad[i]);
		expect_error(t, "hugepageLimits[0].pageSize");
	}
}

static void bad_values_are_named(void **state)
{
	(void)state;
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": \"sh\"}}",
	             "field process.args: expected an array");
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	             "\"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_FLY\"]}}, \"linux\": "
	             "{" NS "}}",
	             "process.capabilities.bounding[1]: unknown capability CAP_FLY");
	expect_error("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"rlimits\": "
	             "[{\"type\": \"RLIMIT_FOO\", \"soft\": 1, \"hard\": 1}]}, \"linux\": {" NS
	             "}}",
	             "process.rlimits[0].type: unknown RLIMIT_FOO");
	expect_error("{" BASE ", \"linux\": {" NS ", \"uidMappings\": [{\"containerID\": 0, "
	             "\"hostID\": 1000, \"size\": 1}]}}",
	             "linux.uidMappings");
	expect_error("{" BASE ", \"linux\": {\"namespaces\": [{\"type\": \"mount\"}, {\"type\": "
	             "\"time\"}]}}",
	             "linux.namespaces[1].type: time namespaces are not supported");
	expect_error("{" BASE ", \"linux\": {\"namespaces\": [{\"type\": \"mount\"}, {\"type\": "
	             "\"elsewhere\"}]}}",
	             "linux.namespaces[1].type: unknown namespace elsewhere");
	expect_error("{" BASE ", \"linux\": {" NS ", \"seccomp\": {\"defaultAction\": \"NOPE\"}}}",
	             "linux.seccomp.defaultAction: unknown action NOPE");
	expect_error("{" BASE ", \"linux\": {" NS ", \"sysctl\": {\"kernel.panic\": \"1\"}}}",
	             "linux.sysctl.kernel.panic");
	expect_error("{" BASE ", \"linux\": {" NS ", \"rootfsPropagation\": \"sideways\"}}",
	             "linux.rootfsPropagation");
	expect_error("{" BASE ", \"linux\": {" NS "}, \"hostname\": \"h\"}", "field hostname");
	expect_error("{" BASE ", \"linux\": {" NS "}, \"mounts\": [{\"destination\": \"rel\", "
	             "\"type\": \"tmpfs\"}]}",
	             "not an absolute path");
	expect_error("{\"root\": {\"path\": \"r\"}, \"linux\": {" NS "}}", "process.args: missing");
	expect_error("{" BASE ", \"linux\": {" NS "}", "config: line 1");
}

static void numbers_and_seccomp_args(void **state)
{
	(void)state;
	struct lc_config *c;
	cm_err err;
	const char *text =
	    "{" BASE ", \"linux\": {" NS ", \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", "
	    "\"architectures\": [\"SCMP_ARCH_X86_64\"], \"syscalls\": [{\"names\": "
	    "[\"getpriority\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 77, \"args\": "
	    "[{\"index\": 0, \"value\": 2, \"op\": \"SCMP_CMP_EQ\"}]}]}}}";
	assert_int_equal(lc_config_parse(text, &c, &err), 0);
	assert_int_equal(c->seccomp->syscalls[0].errno_ret, 77);
	assert_int_equal(c->seccomp->syscalls[0].args[0].value, 2);
	struct lc_bpf bpf;
	assert_int_equal(lc_seccomp_build(c->seccomp, &bpf, &err), 0);
	assert_true(bpf.prog.len > 4);
	lc_bpf_free(&bpf);
	lc_config_free(c);
	text = "{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"rlimits\": "
	       "[{\"type\": \"RLIMIT_CORE\", \"soft\": 0, \"hard\": 18446744073709551615}]}, "
	       "\"linux\": {" NS "}}";
	assert_int_equal(lc_config_parse(text, &c, &err), 0);
	assert_true(c->process.rlimits[0].hard == UINT64_MAX);
	lc_config_free(c);
}

/* A real outside int64's range is refused by comparing, not by a conversion, which would be
 * undefined (found by fuzz/fuzz_oci_config.c under clang's UBSan). */
static void reals_beyond_int64(void **state)
{
	(void)state;
	expect_error("{\"root\": {\"path\": \"r\"}, \"linux\": {" NS "}, \"process\": "
	             "{\"args\": [\"sh\"], \"oomScoreAdj\": -1e300}}",
	             "field process.oomScoreAdj: expected an integer");
	expect_error("{" BASE ", \"linux\": {" NS ", \"resources\": {\"memory\": {\"limit\": "
	             "1e300}}}}",
	             "field linux.resources.memory.limit: expected an integer");
	struct lc_config *c;
	cm_err err;
	const char *text =
	    "{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], "
	    "\"rlimits\": [{\"type\": \"RLIMIT_CORE\", \"soft\": 1.8e19, \"hard\": "
	    "1.9e19}]}, \"linux\": {" NS ", \"resources\": {\"memory\": {\"limit\": -9.2e18}}}}";
	assert_int_equal(lc_config_parse(text, &c, &err), 0);
	assert_true(c->process.rlimits[0].soft == 18000000000000000000ULL);
	assert_true(c->process.rlimits[0].hard == UINT64_MAX);
	assert_true(c->resources.memory_limit == -9200000000000000000LL);
	lc_config_free(c);
}

static void default_seccomp_compiles(void **state)
{
	(void)state;
	struct lc_config *def = lc_spec_default();
	struct lc_bpf bpf;
	cm_err err;
	assert_int_equal(lc_seccomp_build(def->seccomp, &bpf, &err), 0);
	assert_true(bpf.prog.len > 10);
	lc_bpf_free(&bpf);
	lc_config_free(def);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(runc_spec_parses),
	    cmocka_unit_test(default_spec_round_trips),
	    cmocka_unit_test(unknown_fields_are_ignored),
	    cmocka_unit_test(oci_version_is_a_version),
	    cmocka_unit_test(engine_fields_round_trip),
	    cmocka_unit_test(no_mount_namespace),
	    cmocka_unit_test(bad_values_are_named),
	    cmocka_unit_test(missing_fields_are_named),
	    cmocka_unit_test(ids_are_checked),
	    cmocka_unit_test(cgroups_path_stays_in_the_hierarchy),
	    cmocka_unit_test(hugepage_limits_are_an_array),
	    cmocka_unit_test(console_size),
	    cmocka_unit_test(numbers_and_seccomp_args),
	    cmocka_unit_test(reals_beyond_int64),
	    cmocka_unit_test(default_seccomp_compiles),
	};
	return cmocka_run_group_tests_name("lc_config", tests, NULL, NULL);
}
