/* The network of a dyno, routed at layer 3 as in the Go hsup, made through netlink (libmnl):
 *
 *   host namespace                         the dyno's namespace (bind-mounted at a path)
 *   hsv<UID>  gateway/30  <--- veth --->   eth0  host/30, default route via the gateway
 *   <hostIF>              --- ipvlan/macvlan --->  eth1  LIBCONTAINER_DYNO_EXTRA_INTERFACE
 *                                          lo up; LIBCONTAINER_DYNO_EXTRA_ROUTES
 *
 * The host forwards and masquerades the whole dyno block (al_config): set up by the first hsup
 * of the host that needs it, removed by the last, and repaired by the next after a crash.
 * Every function may block (netlink, iptables) and is safe to call from any thread: none
 * changes the calling thread's namespaces (a short-lived thread of its own enters the dyno's). */
#ifndef HS_NET_H
#define HS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/alloc.h"
#include "common/err.h"

#define HS_NET_ENV_EXTRA_INTERFACE "LIBCONTAINER_DYNO_EXTRA_INTERFACE"
#define HS_NET_ENV_EXTRA_ROUTES    "LIBCONTAINER_DYNO_EXTRA_ROUTES"
#define HS_NET_IFNAMSIZ            16 /* the kernel's IFNAMSIZ: 15 characters and a NUL */
/* The chains of hsup's own, in iptables' nat and filter tables. */
#define HS_NET_CHAIN_NAT     "HSUP-POSTROUTING"
#define HS_NET_CHAIN_FORWARD "HSUP-FORWARD"

struct hs_net_route {
	uint32_t dest; /* host order, like every address here */
	unsigned prefix;
	bool via_default; /* "default": the dyno's own gateway */
	uint32_t gateway;
	char ifname[HS_NET_IFNAMSIZ];
};

struct hs_net_conf {
	bool extra; /* LIBCONTAINER_DYNO_EXTRA_INTERFACE is set: each dyno gets eth1 */
	char extra_host_if[HS_NET_IFNAMSIZ];
	uint32_t extra_addr;
	unsigned extra_prefix;
	struct hs_net_route *routes;
	size_t nroutes;
};

/* LIBCONTAINER_DYNO_EXTRA_INTERFACE (hostIF:IP/mask) and LIBCONTAINER_DYNO_EXTRA_ROUTES
 * (dest/mask:gateway|default:ifname,...); NULL or blank means unset. A malformed value is
 * refused with a message naming the variable, the item and the part that is wrong. */
int hs_net_conf_parse(struct hs_net_conf *c, const char *extra_if, const char *extra_routes,
                      cm_err *err);
int hs_net_conf_from_env(struct hs_net_conf *c, cm_err *err);
void hs_net_conf_free(struct hs_net_conf *c);

/* The host's veth of a dyno: "hsv<uid>". Record it (and the namespace's path) in the UID's
 * reservation before hs_net_dyno_create, so that a crash in the middle leaves them findable. */
void hs_net_veth_name(uint32_t uid, char name[HS_NET_IFNAMSIZ]);

struct hs_net_dyno {
	char veth[HS_NET_IFNAMSIZ];
	const char *extra_kind; /* "ipvlan" or "macvlan" (a kernel without ipvlan); NULL */
};

/* Makes the dyno's network namespace, bind-mounted at netns_path (a new file; its directory
 * must exist), and everything drawn above for subnet sn. On failure nothing made is left. */
int hs_net_dyno_create(const struct hs_net_conf *c, uint32_t uid, const struct al_subnet *sn,
                       const char *netns_path, struct hs_net_dyno *out, cm_err *err);
/* Removes the veth (its peer goes with it), the extra interface, the namespace's mount and
 * file; what is already gone is skipped, so it may be called on whatever a crash left. veth
 * must be a name hs_net_veth_name gives; netns_path may be NULL. */
int hs_net_dyno_destroy(const char *veth, const char *netns_path, cm_err *err);

/* Forwarding and NAT of the block of c, shared by the hsups using state_dir: the first one's
 * acquire remembers net.ipv4.ip_forward and sets it to 1, and adds the chains HSUP-FORWARD
 * (accepting the block's traffic out and its replies back) and HSUP-POSTROUTING (masquerading
 * the block) with a jump from FORWARD and POSTROUTING, through iptables. What was set is
 * recorded under <state_dir>/net first. Acquiring again from one process changes nothing. */
int hs_net_host_acquire(const char *state_dir, const struct al_config *c, cm_err *err);
/* This process no longer needs it. When no live hsup does (those that died count for
 * nothing), the chains go and ip_forward gets its old value back. Called by a process that
 * never acquired, it only repairs what dead ones left. */
int hs_net_host_release(const char *state_dir, cm_err *err);

#endif
