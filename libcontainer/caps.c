#define _GNU_SOURCE
#include "libcontainer/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int lc_caps_parse(char *const *names, uint64_t *mask, const char *field, cm_err *err)
{
	*mask = 0;
	for (size_t i = 0; names && names[i]; i++) {
		cap_value_t v;
		if (cap_from_name(names[i], &v) < 0 || v < 0 || v > 63)
			return cm_err_set(err, EINVAL, "field %s[%zu]: unknown capability %s",
			                  field, i, names[i]);
		*mask |= 1ULL << v;
	}
	return 0;
}

int lc_caps_from_process(const struct lc_process *p, struct lc_caps *out, cm_err *err)
{
	static const char *const fields[LC_CAP_NSETS] = {
	    "process.capabilities.bounding",    "process.capabilities.effective",
	    "process.capabilities.inheritable", "process.capabilities.permitted",
	    "process.capabilities.ambient",
	};
	for (int s = 0; s < LC_CAP_NSETS; s++)
		if (lc_caps_parse(p->caps[s], &out->sets[s], fields[s], err) < 0)
			return -1;
	out->last_cap = (int)cap_max_bits() - 1;
	if (out->last_cap < 0 || out->last_cap > 63)
		out->last_cap = CAP_LAST_CAP;
	return 0;
}

int lc_caps_drop_bounding(const struct lc_caps *c)
{
	for (int cap = 0; cap <= c->last_cap; cap++)
		if (!(c->sets[LC_CAP_BOUNDING] & (1ULL << cap)) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	return 0;
}

int lc_caps_apply(const struct lc_caps *c)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(c->sets[LC_CAP_EFFECTIVE] >> (32 * i));
		data[i].permitted = (uint32_t)(c->sets[LC_CAP_PERMITTED] >> (32 * i));
		data[i].inheritable = (uint32_t)(c->sets[LC_CAP_INHERITABLE] >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -1;
	for (int cap = 0; cap <= c->last_cap; cap++)
		/* EPERM: not in both permitted and inheritable, as runc and crun treat it */
		if ((c->sets[LC_CAP_AMBIENT] & (1ULL << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
			return -1;
	return 0;
}
