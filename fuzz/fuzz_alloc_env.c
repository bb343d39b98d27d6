/* libFuzzer target: the dyno network's variables, LIBCONTAINER_DYNO_SUBNET, _UID_MIN, _UID_MAX
 * (alloc/config.c), _EXTRA_INTERFACE and _EXTRA_ROUTES (drivers/net.c), from one input whose
 * lines are their values in that order (a missing line: unset). What parses must keep the
 * promises the allocator and the network rely on, and print back to what parses the same;
 * anything else must fail with a message naming a variable. */
#include "fuzz/fuzz.h"
#include "alloc/alloc.h"
#include "drivers/net.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	SUBNET,
	UID_MIN,
	UID_MAX,
	EXTRA_IF,
	ROUTES,
	NVARS
};

static void check_failure(const cm_err *err)
{
	CHECK(strncmp(err->msg, "LIBCONTAINER_DYNO_", 18) == 0);
}

static void check_subnet(const struct al_config *c, uint32_t uid)
{
	struct al_subnet sn;
	cm_err err;
	CHECK(al_subnet_for_uid(c, uid, &sn, &err) == 0);
	CHECK(sn.prefix == 30 && (sn.network & 3) == 0);
	CHECK(sn.gateway == sn.network + 1 && sn.host == sn.network + 2);
	CHECK(sn.broadcast == sn.network + 3);
	CHECK((sn.network & al_mask(c->prefix)) == al_block_network(c));
	CHECK(sn.network >= (c->base & ~3u));
}

static void check_alloc(const struct al_config *c)
{
	CHECK(c->prefix <= 30);
	CHECK(c->uid_min >= 1 && c->uid_min <= c->uid_max && c->uid_max <= 4294967294u);
	CHECK((uint64_t)c->uid_max - c->uid_min < al_block_subnets(c));
	check_subnet(c, c->uid_min);
	check_subnet(c, c->uid_max);
	check_subnet(c, c->uid_min + (c->uid_max - c->uid_min) / 2);
	/* printed back, it parses the same */
	char base[AL_ADDR_LEN], subnet[32], min[16], max[16];
	snprintf(subnet, sizeof(subnet), "%s/%u", al_addr_str(c->base, base), c->prefix);
	snprintf(min, sizeof(min), "%u", c->uid_min);
	snprintf(max, sizeof(max), "%u", c->uid_max);
	struct al_config again;
	cm_err err;
	CHECK(al_config_parse(&again, subnet, min, max, &err) == 0);
	CHECK(memcmp(&again, c, sizeof(again)) == 0);
}

static void print_routes(const struct hs_net_conf *c, FILE *f)
{
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct hs_net_route *r = &c->routes[i];
		char d[AL_ADDR_LEN], g[AL_ADDR_LEN];
		fprintf(f, "%s%s/%u:%s:%s", i ? "," : "", al_addr_str(r->dest, d), r->prefix,
		        r->via_default ? "default" : al_addr_str(r->gateway, g), r->ifname);
	}
}

static void check_net(const struct hs_net_conf *c)
{
	CHECK(!c->extra || (strlen(c->extra_host_if) >= 1 && strlen(c->extra_host_if) <= 15 &&
	                    c->extra_prefix >= 1 && c->extra_prefix <= 32));
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct hs_net_route *r = &c->routes[i];
		CHECK(r->prefix <= 32 && (r->dest & ~al_mask(r->prefix)) == 0);
		CHECK(strcmp(r->ifname, "eth0") == 0 ||
		      (c->extra && strcmp(r->ifname, "eth1") == 0));
		CHECK(!r->via_default || strcmp(r->ifname, "eth0") == 0);
		for (size_t j = 0; j < i; j++)
			CHECK(c->routes[j].dest != r->dest || c->routes[j].prefix != r->prefix);
	}
	char *routes = NULL, *extra = NULL, a[AL_ADDR_LEN];
	size_t len;
	FILE *f = open_memstream(&routes, &len);
	CHECK(f);
	print_routes(c, f);
	fclose(f);
	if (c->extra) {
		extra = malloc(64);
		CHECK(extra);
		snprintf(extra, 64, "%s:%s/%u", c->extra_host_if, al_addr_str(c->extra_addr, a),
		         c->extra_prefix);
	}
	struct hs_net_conf again;
	cm_err err;
	CHECK(hs_net_conf_parse(&again, extra, routes, &err) == 0);
	CHECK(again.extra == c->extra && again.nroutes == c->nroutes);
	CHECK(!c->extra || (again.extra_addr == c->extra_addr &&
	                    strcmp(again.extra_host_if, c->extra_host_if) == 0));
	for (size_t i = 0; i < c->nroutes; i++)
		CHECK(memcmp(&again.routes[i], &c->routes[i], sizeof(again.routes[i])) == 0);
	hs_net_conf_free(&again);
	free(routes);
	free(extra);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v[NVARS] = {NULL};
	const char *p = (const char *)data, *end = p + size;
	for (int i = 0; i < NVARS && p <= end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		v[i] = strndup(p, n);
		CHECK(v[i]);
		if (!nl)
			break;
		p = nl + 1;
	}
	struct al_config c;
	cm_err err;
	err.msg[0] = '\0';
	if (al_config_parse(&c, v[SUBNET], v[UID_MIN], v[UID_MAX], &err) == 0)
		check_alloc(&c);
	else
		check_failure(&err);
	struct hs_net_conf nc;
	err.msg[0] = '\0';
	if (hs_net_conf_parse(&nc, v[EXTRA_IF], v[ROUTES], &err) == 0) {
		check_net(&nc);
		hs_net_conf_free(&nc);
	} else {
		check_failure(&err);
		CHECK(nc.routes == NULL);
	}
	for (int i = 0; i < NVARS; i++)
		free(v[i]);
	return 0;
}
