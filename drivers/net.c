/* A dyno's network: its variables, and its namespace, veth pair, addresses and routes made
 * through rtnetlink with libmnl. The dyno's namespace is entered only by a short-lived thread
 * of our own, which makes it (unshare) or joins it (setns) and opens a netlink socket there:
 * a socket keeps the namespace it was made in, so the calling thread never changes its own. */
#define _GNU_SOURCE
#include "drivers/net.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <net/if.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define VETH_PREFIX "hsv"
#define NL_BUF_SIZE 32768 /* a receive buffer for any answer (libmnl's dump size) */
#define DYNO_IF     "eth0"
#define EXTRA_IF    "eth1"

/* ---- the variables ---- */

/* What the kernel takes as an interface's name (dev_valid_name). */
static bool valid_ifname(const char *s, size_t len)
{
	if (len == 0 || len >= HS_NET_IFNAMSIZ || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r') ||
		    s[i] == '\0')
			return false;
	return true;
}

static int parse_extra_if(struct hs_net_conf *c, const char *value, cm_err *err)
{
	size_t len = 0;
	const char *v = al_trimmed(value, &len);
	if (!v)
		return 0;
	const char *var = HS_NET_ENV_EXTRA_INTERFACE;
	const char *colon = memchr(v, ':', len);
	if (!colon)
		return cm_err_set(err, EINVAL,
		                  "%s \"%.*s\" is not hostIF:IP/mask: there is no ':' after the "
		                  "host interface's name",
		                  var, (int)len, v);
	size_t nlen = (size_t)(colon - v), clen = len - nlen - 1;
	if (!valid_ifname(v, nlen))
		return cm_err_set(err, EINVAL,
		                  "%s \"%.*s\": the host interface \"%.*s\" is not an interface "
		                  "name (1 to 15 characters, no '/', ':' or blanks)",
		                  var, (int)len, v, (int)nlen, v);
	const char *why;
	if (!al_parse_cidr(colon + 1, clen, &c->extra_addr, &c->extra_prefix, &why))
		return cm_err_set(err, EINVAL, "%s \"%.*s\": IP/mask \"%.*s\": %s", var, (int)len,
		                  v, (int)clen, colon + 1, why);
	if (c->extra_prefix == 0)
		return cm_err_set(err, EINVAL, "%s \"%.*s\": the mask /0 leaves no network", var,
		                  (int)len, v);
	memcpy(c->extra_host_if, v, nlen);
	c->extra_host_if[nlen] = '\0';
	c->extra = true;
	return 0;
}

/* The item's three parts, split at ':' (the Go hsup's format); false unless exactly three. */
static bool split3(const char *s, size_t len, const char *part[3], size_t plen[3], size_t *n)
{
	*n = 1;
	part[0] = s;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':') {
			if (*n == 3) {
				(*n)++;
				return false;
			}
			plen[*n - 1] = (size_t)(s + i - part[*n - 1]);
			part[(*n)++] = s + i + 1;
		}
	plen[*n - 1] = (size_t)(s + len - part[*n - 1]);
	return *n == 3;
}

static int route_item_error(cm_err *err, size_t item, const char *s, size_t len, const char *fmt,
                            ...) __attribute__((format(printf, 5, 6)));

static int route_item_error(cm_err *err, size_t item, const char *s, size_t len, const char *fmt,
                            ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return cm_err_set(err, EINVAL, "%s item %zu \"%.*s\": %s", HS_NET_ENV_EXTRA_ROUTES, item,
	                  (int)len, s, detail);
}

static int check_route_if(const struct hs_net_conf *c, struct hs_net_route *r, size_t item,
                          const char *s, size_t len, const char *ifn, size_t iflen, cm_err *err)
{
	if (!valid_ifname(ifn, iflen))
		return route_item_error(err, item, s, len,
		                        "the interface \"%.*s\" is not an interface name",
		                        (int)iflen, ifn);
	memcpy(r->ifname, ifn, iflen);
	r->ifname[iflen] = '\0';
	if (strcmp(r->ifname, DYNO_IF) != 0 && !(c->extra && strcmp(r->ifname, EXTRA_IF) == 0))
		return route_item_error(
		    err, item, s, len, "the interface \"%.*s\" is not one of the dyno's (%s)",
		    (int)iflen, ifn,
		    c->extra ? "eth0, eth1" : "eth0; eth1 comes with " HS_NET_ENV_EXTRA_INTERFACE);
	if (r->via_default && strcmp(r->ifname, DYNO_IF) != 0)
		return route_item_error(
		    err, item, s, len,
		    "the gateway default is the dyno's own, reached through eth0, "
		    "not \"%.*s\"",
		    (int)iflen, ifn);
	return 0;
}

static int parse_route(const struct hs_net_conf *c, struct hs_net_route *r, size_t item,
                       const char *s, size_t len, cm_err *err)
{
	const char *part[3];
	size_t plen[3], n;
	if (len == 0)
		return cm_err_set(err, EINVAL, "%s item %zu is empty", HS_NET_ENV_EXTRA_ROUTES,
		                  item);
	if (!split3(s, len, part, plen, &n))
		return cm_err_set(err, EINVAL,
		                  "%s item %zu \"%.*s\" is not dest/mask:gateway:interface: it has "
		                  "%s3 parts separated by ':'",
		                  HS_NET_ENV_EXTRA_ROUTES, item, (int)len, s,
		                  n > 3 ? "more than " : "fewer than ");
	const char *why;
	if (!al_parse_cidr(part[0], plen[0], &r->dest, &r->prefix, &why))
		return route_item_error(err, item, s, len, "the destination \"%.*s\": %s",
		                        (int)plen[0], part[0], why);
	if (r->dest & ~al_mask(r->prefix))
		return route_item_error(err, item, s, len,
		                        "the destination \"%.*s\" has bits set beyond its mask",
		                        (int)plen[0], part[0]);
	r->via_default = plen[1] == 7 && memcmp(part[1], "default", 7) == 0;
	if (!r->via_default && !al_parse_addr(part[1], plen[1], &r->gateway))
		return route_item_error(err, item, s, len,
		                        "the gateway \"%.*s\" is neither an IPv4 address nor "
		                        "default",
		                        (int)plen[1], part[1]);
	return check_route_if(c, r, item, s, len, part[2], plen[2], err);
}

static int parse_routes(struct hs_net_conf *c, const char *value, cm_err *err)
{
	size_t len = 0;
	const char *v = al_trimmed(value, &len);
	if (!v)
		return 0;
	size_t cap = 0;
	for (size_t start = 0, item = 1; start <= len; item++) {
		const char *comma = memchr(v + start, ',', len - start);
		size_t end = comma ? (size_t)(comma - v) : len;
		xgrow((void **)&c->routes, &cap, c->nroutes + 1, sizeof(*c->routes));
		struct hs_net_route *r = &c->routes[c->nroutes];
		memset(r, 0, sizeof(*r));
		if (parse_route(c, r, item, v + start, end - start, err) < 0)
			return -1;
		for (size_t i = 0; i < c->nroutes; i++)
			if (c->routes[i].dest == r->dest && c->routes[i].prefix == r->prefix)
				return cm_err_set(err, EINVAL,
				                  "%s item %zu has the destination of item %zu",
				                  HS_NET_ENV_EXTRA_ROUTES, item, i + 1);
		c->nroutes++;
		start = end + 1;
	}
	return 0;
}

int hs_net_conf_parse(struct hs_net_conf *c, const char *extra_if, const char *extra_routes,
                      cm_err *err)
{
	memset(c, 0, sizeof(*c));
	if (parse_extra_if(c, extra_if, err) < 0 || parse_routes(c, extra_routes, err) < 0) {
		hs_net_conf_free(c);
		return -1;
	}
	return 0;
}

int hs_net_conf_from_env(struct hs_net_conf *c, cm_err *err)
{
	return hs_net_conf_parse(c, getenv(HS_NET_ENV_EXTRA_INTERFACE),
	                         getenv(HS_NET_ENV_EXTRA_ROUTES), err);
}

void hs_net_conf_free(struct hs_net_conf *c)
{
	free(c->routes);
	memset(c, 0, sizeof(*c));
}

/* ---- rtnetlink ---- */

struct nl {
	struct mnl_socket *sock;
	unsigned portid, seq;
	char *buf;
};

/* A request: a message of at most a few hundred bytes. */
struct nl_req {
	_Alignas(struct nlmsghdr) char buf[2048];
};

struct nl_reply {
	mnl_cb_t cb;
	void *data;
	int error;
	char msg[256]; /* the kernel's extended ack: "Unknown device type" */
};

static int nl_open(struct nl *nl, cm_err *err)
{
	memset(nl, 0, sizeof(*nl));
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock)
		return cm_err_sys(err, "open a netlink socket");
	int one = 1; /* the kernel says why it refused, without echoing the request */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		cm_err_sys(err, "bind a netlink socket");
		mnl_socket_close(nl->sock);
		nl->sock = NULL;
		return -1;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->buf = xmalloc(NL_BUF_SIZE);
	return 0;
}

static void nl_close(struct nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl->buf);
	memset(nl, 0, sizeof(*nl));
}

static int ext_ack_attr(const struct nlattr *a, void *data)
{
	struct nl_reply *r = data;
	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(r->msg, sizeof(r->msg), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int nl_error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_reply *r = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		r->error = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error == 0)
		return MNL_CB_STOP; /* the ack */
	r->error = -e->error;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		size_t off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += MNL_ALIGN(e->msg.nlmsg_len - sizeof(struct nlmsghdr));
		if (off < mnl_nlmsg_get_payload_len(nlh))
			mnl_attr_parse(nlh, (unsigned)off, ext_ack_attr, r);
	}
	return MNL_CB_ERROR;
}

static int nl_stop_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_STOP;
}

static int nl_noop_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

static int nl_data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_reply *r = data;
	return r->cb ? r->cb(nlh, r->data) : MNL_CB_OK;
}

/* Sends the request and reads the answers until its ack; what names it in errors. */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data, cm_err *err,
                   const char *what)
{
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return cm_err_sys(err, "%s: netlink send", what);
	struct nl_reply r = {.cb = cb, .data = data};
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_NOOP] = nl_noop_cb,
	                                [NLMSG_ERROR] = nl_error_cb,
	                                [NLMSG_DONE] = nl_stop_cb,
	                                [NLMSG_OVERRUN] = nl_noop_cb};
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, NL_BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cm_err_sys(err, "%s: netlink receive", what);
		int ret = mnl_cb_run2(nl->buf, (size_t)n, nl->seq, nl->portid, nl_data_cb, &r, ctl,
		                      NLMSG_MIN_TYPE);
		if (ret == MNL_CB_STOP)
			return 0;
		if (ret < 0) {
			int code = r.error ? r.error : errno;
			if (r.msg[0])
				return cm_err_set(err, code, "%s: %s (%s)", what, strerror(code),
				                  r.msg);
			return cm_err_errno(err, code, "%s", what);
		}
	}
}

static struct nlmsghdr *nl_msg(struct nl_req *req, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh, int index)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return ifi;
}

static int link_index_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == RTM_NEWLINK &&
	    mnl_nlmsg_get_payload_len(nlh) >= sizeof(struct ifinfomsg))
		*(int *)data = ((const struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_index;
	return MNL_CB_OK;
}

/* The index of the interface name (code ENODEV when there is none). */
static int link_index(struct nl *nl, const char *name, int *index, cm_err *err)
{
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_GETLINK, 0);
	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	*index = 0;
	char what[64];
	snprintf(what, sizeof(what), "find interface %s", name);
	if (nl_talk(nl, nlh, link_index_cb, index, err, what) < 0)
		return -1;
	if (*index <= 0)
		return cm_err_set(err, ENODEV, "%s: no answer", what);
	return 0;
}

static int link_up(struct nl *nl, const char *name, int *index, cm_err *err)
{
	if (link_index(nl, name, index, err) < 0)
		return -1;
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = put_ifinfo(nlh, *index);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = IFF_UP;
	char what[64];
	snprintf(what, sizeof(what), "set %s up", name);
	return nl_talk(nl, nlh, NULL, NULL, err, what);
}

static int link_del(struct nl *nl, const char *name, cm_err *err)
{
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_DELLINK, 0);
	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	char what[64];
	snprintf(what, sizeof(what), "delete interface %s", name);
	return nl_talk(nl, nlh, NULL, NULL, err, what);
}

static int addr_add(struct nl *nl, const char *ifname, int index, uint32_t addr, unsigned prefix,
                    cm_err *err)
{
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)index;
	mnl_attr_put_u32(nlh, IFA_LOCAL, htonl(addr));
	mnl_attr_put_u32(nlh, IFA_ADDRESS, htonl(addr));
	if (prefix < 31)
		mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl(addr | ~al_mask(prefix)));
	char what[96], a[AL_ADDR_LEN];
	snprintf(what, sizeof(what), "add address %s/%u to %s", al_addr_str(addr, a), prefix,
	         ifname);
	return nl_talk(nl, nlh, NULL, NULL, err, what);
}

static int route_add(struct nl *nl, uint32_t dest, unsigned prefix, uint32_t gw, const char *ifname,
                     cm_err *err)
{
	int oif;
	if (link_index(nl, ifname, &oif, err) < 0)
		return -1;
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = (unsigned char)prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	if (prefix > 0)
		mnl_attr_put_u32(nlh, RTA_DST, htonl(dest));
	mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	char what[128], d[AL_ADDR_LEN], g[AL_ADDR_LEN];
	snprintf(what, sizeof(what), "add route %s/%u via %s dev %s", al_addr_str(dest, d), prefix,
	         al_addr_str(gw, g), ifname);
	return nl_talk(nl, nlh, NULL, NULL, err, what);
}

/* The pair, with its peer made directly in the dyno's namespace under its final name. */
static int veth_add(struct nl *nl, const char *name, const char *peer, int nsfd, cm_err *err)
{
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	struct nlattr *p = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)nsfd);
	mnl_attr_nest_end(nlh, p);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	char what[64];
	snprintf(what, sizeof(what), "create veth pair %s and %s", name, peer);
	return nl_talk(nl, nlh, NULL, NULL, err, what);
}

/* An ipvlan (L2) or macvlan (bridge) interface on parent, made in the dyno's namespace. */
static int sublink_add(struct nl *nl, const char *kind, int parent, const char *parent_name,
                       const char *name, int nsfd, cm_err *err)
{
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_LINK, (uint32_t)parent);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)nsfd);
	struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	if (strcmp(kind, "ipvlan") == 0)
		mnl_attr_put_u16(nlh, IFLA_IPVLAN_MODE, IPVLAN_MODE_L2);
	else
		mnl_attr_put_u32(nlh, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	char what[96];
	snprintf(what, sizeof(what), "create %s %s on %s", kind, name, parent_name);
	return nl_talk(nl, nlh, NULL, NULL, err, what);
}

/* ---- the dyno's namespace ---- */

struct ns_job {
	int join_fd; /* join this namespace, or -1: a new one */
	int new_fd;  /* out: the new namespace */
	struct nl nl;
	cm_err err;
	int rc;
};

/* On a thread of our own, which ends here: its namespaces die with it. */
static void *ns_job_run(void *p)
{
	struct ns_job *j = p;
	j->rc = -1;
	if (j->join_fd < 0) {
		if (unshare(CLONE_NEWNET) < 0) {
			cm_err_sys(&j->err, "make a network namespace (unshare)");
			return NULL;
		}
		j->new_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (j->new_fd < 0) {
			cm_err_sys(&j->err, "open /proc/thread-self/ns/net");
			return NULL;
		}
	} else if (setns(j->join_fd, CLONE_NEWNET) < 0) {
		cm_err_sys(&j->err, "enter the network namespace (setns)");
		return NULL;
	}
	j->rc = nl_open(&j->nl, &j->err);
	return NULL;
}

/* A netlink socket in the namespace join_fd, or in a new one (its fd in j->new_fd). */
static int ns_socket(struct ns_job *j, int join_fd, cm_err *err)
{
	memset(j, 0, sizeof(*j));
	j->join_fd = join_fd;
	j->new_fd = -1;
	/* No signal handler may run on a thread in the dyno's namespace: one that opened a socket
	 * would open it there. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int e = pthread_create(&t, NULL, ns_job_run, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		return cm_err_errno(err, e, "start a thread for the dyno's network namespace");
	pthread_join(t, NULL);
	if (j->rc < 0) {
		*err = j->err;
		if (j->new_fd >= 0)
			close(j->new_fd);
		j->new_fd = -1;
		return -1;
	}
	return 0;
}

/* Binds the namespace to a new file at path, so that it outlives us and can be joined by
 * path. */
static int mount_netns(int nsfd, const char *path, cm_err *err)
{
	_cleanup_close_ int fd =
	    open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0400);
	if (fd < 0 && errno == EEXIST)
		return cm_err_sys(err,
		                  "create %s (left by a dyno before? hs_net_dyno_destroy "
		                  "removes it)",
		                  path);
	if (fd < 0)
		return cm_err_sys(err, "create %s", path);
	char src[64], dst[64];
	snprintf(src, sizeof(src), "/proc/self/fd/%d", nsfd);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d", fd);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
		int saved = errno;
		unlink(path);
		return cm_err_errno(err, saved, "bind the network namespace to %s", path);
	}
	return 0;
}

void hs_net_veth_name(uint32_t uid, char name[HS_NET_IFNAMSIZ])
{
	snprintf(name, HS_NET_IFNAMSIZ, VETH_PREFIX "%u", uid);
}

/* The kind of the extra interface: ipvlan as in the Go hsup, macvlan where the kernel has no
 * ipvlan (it answers EOPNOTSUPP: "Unknown device type"). Learnt once per process. */
static atomic_int no_ipvlan;

static int add_extra_if(const struct hs_net_conf *c, struct nl *host, struct nl *ns, int nsfd,
                        struct hs_net_dyno *out, cm_err *err)
{
	int parent, index;
	if (link_index(host, c->extra_host_if, &parent, err) < 0)
		return cm_err_wrap(err, "%s: host interface %s", HS_NET_ENV_EXTRA_INTERFACE,
		                   c->extra_host_if);
	out->extra_kind = atomic_load(&no_ipvlan) ? "macvlan" : "ipvlan";
	int r = sublink_add(host, out->extra_kind, parent, c->extra_host_if, EXTRA_IF, nsfd, err);
	if (r < 0 && err->code == EOPNOTSUPP && !atomic_load(&no_ipvlan)) {
		atomic_store(&no_ipvlan, 1);
		out->extra_kind = "macvlan";
		r = sublink_add(host, out->extra_kind, parent, c->extra_host_if, EXTRA_IF, nsfd,
		                err);
	}
	if (r < 0)
		return -1;
	if (link_index(ns, EXTRA_IF, &index, err) < 0 ||
	    addr_add(ns, EXTRA_IF, index, c->extra_addr, c->extra_prefix, err) < 0 ||
	    link_up(ns, EXTRA_IF, &index, err) < 0)
		return -1;
	return 0;
}

/* Everything inside the namespace and on the host's side of the pair, once the namespace is
 * mounted; *made_veth tells the caller what to undo. */
static int build(const struct hs_net_conf *c, const struct al_subnet *sn, int nsfd, struct nl *host,
                 struct nl *ns, struct hs_net_dyno *out, bool *made_veth, cm_err *err)
{
	int index;
	if (veth_add(host, out->veth, DYNO_IF, nsfd, err) < 0)
		return -1;
	*made_veth = true;
	if (link_index(host, out->veth, &index, err) < 0 ||
	    addr_add(host, out->veth, index, sn->gateway, sn->prefix, err) < 0 ||
	    link_up(host, out->veth, &index, err) < 0)
		return -1;
	if (link_up(ns, "lo", &index, err) < 0 || link_index(ns, DYNO_IF, &index, err) < 0 ||
	    addr_add(ns, DYNO_IF, index, sn->host, sn->prefix, err) < 0 ||
	    link_up(ns, DYNO_IF, &index, err) < 0 ||
	    route_add(ns, 0, 0, sn->gateway, DYNO_IF, err) < 0)
		return -1;
	if (c->extra && add_extra_if(c, host, ns, nsfd, out, err) < 0)
		return -1;
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct hs_net_route *r = &c->routes[i];
		if (route_add(ns, r->dest, r->prefix, r->via_default ? sn->gateway : r->gateway,
		              r->ifname, err) < 0)
			return cm_err_wrap(err, "%s item %zu", HS_NET_ENV_EXTRA_ROUTES, i + 1);
	}
	return 0;
}

int hs_net_dyno_create(const struct hs_net_conf *c, uint32_t uid, const struct al_subnet *sn,
                       const char *netns_path, struct hs_net_dyno *out, cm_err *err)
{
	memset(out, 0, sizeof(*out));
	hs_net_veth_name(uid, out->veth);
	struct ns_job j;
	if (ns_socket(&j, -1, err) < 0)
		return cm_err_wrap(err, "network of the dyno with UID %u", uid);
	_cleanup_close_ int nsfd = j.new_fd;
	struct nl host = {0};
	bool mounted = false, made_veth = false;
	int rc = mount_netns(nsfd, netns_path, err);
	mounted = rc == 0;
	if (rc == 0)
		rc = nl_open(&host, err);
	if (rc == 0)
		rc = build(c, sn, nsfd, &host, &j.nl, out, &made_veth, err);
	nl_close(&host);
	nl_close(&j.nl);
	if (rc == 0)
		return 0;
	/* undo only what this call made: a veth or a file of that name may be another's */
	cm_err ignored;
	hs_net_dyno_destroy(made_veth ? out->veth : NULL, mounted ? netns_path : NULL, &ignored);
	return cm_err_wrap(err, "network of the dyno with UID %u", uid);
}

/* The dyno's interfaces go with its namespace, unless a process still holds it: then they
 * are deleted from inside, so the dyno keeps no address on the host's networks. */
static void clear_netns(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	struct statfs fs;
	if (fd < 0 || fstatfs(fd, &fs) < 0 || fs.f_type != NSFS_MAGIC)
		return;
	struct ns_job j;
	cm_err ignored;
	if (ns_socket(&j, fd, &ignored) < 0)
		return;
	link_del(&j.nl, EXTRA_IF, &ignored);
	link_del(&j.nl, DYNO_IF, &ignored);
	nl_close(&j.nl);
}

static int unmount_netns(const char *path, cm_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	clear_netns(path);
	for (int i = 0; i < 16; i++) /* mounted more than once: each goes */
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
			if (errno == EINVAL || errno == ENOENT)
				break;
			return cm_err_sys(err, "unmount %s", path);
		}
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : cm_err_sys(err, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return cm_err_set(err, EINVAL,
		                  "%s is %s, not a network namespace's file: left alone", path,
		                  S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
	if (unlink(path) < 0 && errno != ENOENT)
		return cm_err_sys(err, "remove %s", path);
	return 0;
}

/* Only a name hs_net_veth_name gives: a record must never make us delete another link. */
static bool is_dyno_veth(const char *name)
{
	size_t p = strlen(VETH_PREFIX), n = strlen(name);
	if (n <= p || n >= HS_NET_IFNAMSIZ || strncmp(name, VETH_PREFIX, p) != 0)
		return false;
	for (size_t i = p; i < n; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

static int delete_veth(const char *veth, cm_err *err)
{
	if (!is_dyno_veth(veth))
		return cm_err_set(err, EINVAL, "\"%s\" is not the name of a dyno's veth", veth);
	struct nl host;
	if (nl_open(&host, err) < 0)
		return -1;
	int rc = link_del(&host, veth, err);
	nl_close(&host);
	return rc < 0 && err->code != ENODEV ? -1 : 0;
}

int hs_net_dyno_destroy(const char *veth, const char *netns_path, cm_err *err)
{
	cm_err e2;
	int rc = veth ? delete_veth(veth, err) : 0;
	if (netns_path && unmount_netns(netns_path, rc < 0 ? &e2 : err) < 0 && rc == 0)
		rc = -1;
	return rc;
}
