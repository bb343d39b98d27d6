/* The allocator's variables and the Go hsup's subnet arithmetic. Every number is checked
 * before it is used: a value the kernel or the arithmetic would wrap is refused by name. */
#include "alloc/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A dyno never runs as root, and (uid_t)-1 means "no UID" to the kernel. */
#define UID_LOWEST  1u
#define UID_HIGHEST 4294967294u

uint32_t al_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
}

const char *al_addr_str(uint32_t addr, char buf[AL_ADDR_LEN])
{
	snprintf(buf, AL_ADDR_LEN, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
	         (addr >> 8) & 0xff, addr & 0xff);
	return buf;
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len > 0;
}

/* A decimal number of at most max_digits (<= 19, so it cannot wrap) digits, no sign, and no
 * leading zero (but "0") unless zeros are allowed. */
static bool parse_decimal(const char *s, size_t len, size_t max_digits, bool zeros, uint64_t *out)
{
	if (!all_digits(s, len) || len > max_digits || (!zeros && len > 1 && s[0] == '0'))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	*out = v;
	return true;
}

bool al_parse_addr(const char *s, size_t len, uint32_t *addr)
{
	uint32_t a = 0;
	size_t pos = 0;
	for (int part = 0; part < 4; part++) {
		size_t start = pos;
		while (pos < len && s[pos] != '.')
			pos++;
		uint64_t v;
		if (!parse_decimal(s + start, pos - start, 3, false, &v) || v > 255)
			return false;
		a = (a << 8) | (uint32_t)v;
		if (part < 3) {
			if (pos >= len)
				return false;
			pos++; /* the dot */
		}
	}
	if (pos != len)
		return false;
	*addr = a;
	return true;
}

bool al_parse_cidr(const char *s, size_t len, uint32_t *addr, unsigned *prefix, const char **why)
{
	const char *slash = memchr(s, '/', len);
	if (!slash) {
		*why = "there is no '/' and prefix length after the address";
		return false;
	}
	size_t alen = (size_t)(slash - s);
	if (!al_parse_addr(s, alen, addr)) {
		*why = "the address before '/' is not an IPv4 address (a.b.c.d, each part 0 to "
		       "255 without leading zeros)";
		return false;
	}
	uint64_t p;
	if (!parse_decimal(slash + 1, len - alen - 1, 2, false, &p) || p > 32) {
		*why = "the prefix length after '/' is not a number from 0 to 32";
		return false;
	}
	*prefix = (unsigned)p;
	return true;
}

/* The Go hsup trimmed the blanks around the values too. */
const char *al_trimmed(const char *v, size_t *len)
{
	if (!v)
		return NULL;
	while (*v == ' ' || (*v >= '\t' && *v <= '\r'))
		v++;
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || (v[n - 1] >= '\t' && v[n - 1] <= '\r')))
		n--;
	*len = n;
	return n ? v : NULL;
}

static int parse_uid(const char *var, const char *value, uint32_t def, uint32_t *out, cm_err *err)
{
	size_t len = 0;
	const char *v = al_trimmed(value, &len);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!all_digits(v, len))
		return cm_err_set(err, EINVAL,
		                  "%s \"%.*s\" is not a UID: it must be a decimal number (digits "
		                  "only, no sign)",
		                  var, (int)len, v);
	const char *d = v;
	size_t dlen = len;
	while (dlen > 1 && *d == '0') /* Go's Atoi read 03000 as 3000 */
		d++, dlen--;
	uint64_t n = 0;
	if (!parse_decimal(d, dlen, 10, true, &n) || n < UID_LOWEST || n > UID_HIGHEST)
		return cm_err_set(err, ERANGE,
		                  "%s \"%.*s\" is out of range: a dyno's UID is from %u to %u", var,
		                  (int)len, v, UID_LOWEST, UID_HIGHEST);
	*out = (uint32_t)n;
	return 0;
}

static int parse_subnet(struct al_config *c, const char *value, cm_err *err)
{
	size_t len = 0;
	const char *v = al_trimmed(value, &len);
	if (!v) {
		v = AL_DEFAULT_SUBNET;
		len = strlen(v);
	}
	const char *why;
	if (!al_parse_cidr(v, len, &c->base, &c->prefix, &why))
		return cm_err_set(err, EINVAL, "%s \"%.*s\" is not an IPv4 block a.b.c.d/n: %s",
		                  AL_ENV_SUBNET, (int)len, v, why);
	if (c->prefix > 30)
		return cm_err_set(err, EINVAL,
		                  "%s \"%.*s\": the prefix length %u is longer than 30, so the "
		                  "block cannot hold a dyno's /30 subnet",
		                  AL_ENV_SUBNET, (int)len, v, c->prefix);
	return 0;
}

uint32_t al_block_network(const struct al_config *c)
{
	return c->base & al_mask(c->prefix);
}

uint64_t al_block_subnets(const struct al_config *c)
{
	uint32_t last = al_block_network(c) | ~al_mask(c->prefix);
	return (uint64_t)(last >> 2) - (uint64_t)(c->base >> 2) + 1;
}

/* Every UID of the range must select a /30 inside the block, or two dynos would share
 * addresses (the Go hsup found out only when the last UIDs were handed out). */
static int check_fit(const struct al_config *c, cm_err *err)
{
	if (c->uid_min > c->uid_max)
		return cm_err_set(err, EINVAL, "%s (%u) is greater than %s (%u)", AL_ENV_UID_MIN,
		                  c->uid_min, AL_ENV_UID_MAX, c->uid_max);
	uint64_t uids = (uint64_t)c->uid_max - c->uid_min + 1;
	uint64_t subnets = al_block_subnets(c);
	if (uids <= subnets)
		return 0;
	char net[AL_ADDR_LEN], base[AL_ADDR_LEN];
	al_addr_str(al_block_network(c), net);
	al_addr_str(c->base & ~3u, base);
	return cm_err_set(err, ERANGE,
	                  "%s..%s (%u..%u) is %llu UIDs, but %s %s/%u has only %llu /30 "
	                  "subnets from %s on: make %s - %s at most %llu, or the block larger",
	                  AL_ENV_UID_MIN, AL_ENV_UID_MAX, c->uid_min, c->uid_max,
	                  (unsigned long long)uids, AL_ENV_SUBNET, net, c->prefix,
	                  (unsigned long long)subnets, base, AL_ENV_UID_MAX, AL_ENV_UID_MIN,
	                  (unsigned long long)subnets - 1);
}

int al_config_parse(struct al_config *c, const char *subnet, const char *uid_min,
                    const char *uid_max, cm_err *err)
{
	struct al_config n = {0};
	if (parse_subnet(&n, subnet, err) < 0 ||
	    parse_uid(AL_ENV_UID_MIN, uid_min, AL_DEFAULT_UID_MIN, &n.uid_min, err) < 0 ||
	    parse_uid(AL_ENV_UID_MAX, uid_max, AL_DEFAULT_UID_MAX, &n.uid_max, err) < 0 ||
	    check_fit(&n, err) < 0)
		return -1;
	*c = n;
	return 0;
}

int al_config_from_env(struct al_config *c, cm_err *err)
{
	return al_config_parse(c, getenv(AL_ENV_SUBNET), getenv(AL_ENV_UID_MIN),
	                       getenv(AL_ENV_UID_MAX), err);
}

int al_subnet_for_uid(const struct al_config *c, uint32_t uid, struct al_subnet *sn, cm_err *err)
{
	if (uid < c->uid_min || uid > c->uid_max)
		return cm_err_set(err, ERANGE, "UID %u is outside %s..%s (%u..%u)", uid,
		                  AL_ENV_UID_MIN, AL_ENV_UID_MAX, c->uid_min, c->uid_max);
	/* pick the /30: the base's /30 number plus the UID's offset */
	uint64_t nr = (uint64_t)(c->base >> 2) + (uid - c->uid_min);
	uint64_t network = nr << 2;
	uint32_t block = al_block_network(c);
	if (network > 0xfffffffcu || ((uint32_t)network & al_mask(c->prefix)) != block) {
		char b[AL_ADDR_LEN];
		return cm_err_set(err, ERANGE, "the /30 of UID %u falls outside %s %s/%u", uid,
		                  AL_ENV_SUBNET, al_addr_str(block, b), c->prefix);
	}
	sn->network = (uint32_t)network;
	sn->gateway = sn->network + 1;
	sn->host = sn->network + 2;
	sn->broadcast = sn->network + 3;
	sn->prefix = 30;
	return 0;
}
