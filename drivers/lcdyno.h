/* One container dyno, made and unmade on the host: its directory with a private writable /app
 * (an overlay whose lower layer is the release's unpacked slug, mapped to the dyno's UID by an
 * idmapped mount, and whose upper layer is its own), its /etc/passwd and /etc/group naming the
 * dyno's user, and the container config the runtime makes it from. Every function may block:
 * the driver calls them on the thread pool. */
#ifndef HS_LCDYNO_H
#define HS_LCDYNO_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "libcontainer/config.h"

struct lcd_dyno {
	const char *id;        /* the container's id: "web.1.3001" */
	const char *name;      /* the dyno: "web.1" (its hostname) */
	uint32_t uid;          /* its own user and group */
	const char *rootfs;    /* the stack's mount, read-only */
	const char *slug_tree; /* the release's unpacked slug, or NULL for an empty /app */
	const char *dir;       /* its directory on the host (made by lcd_prepare) */
	const char *netns;     /* its network namespace, bind-mounted there */
	char *const *args;     /* the command's words (run as bash -c through the init) */
	char *const *env;      /* its complete environment */
	char *const *binds;    /* --bind HOST[:DYNO], read-only in the dyno */
	uint64_t memory_limit; /* bytes; 0: none */
	int64_t cpu_shares, pids_limit;
	int grace;                 /* seconds the init gives what is left after the command ends */
	bool terminal;             /* a pty for the command (hsup run on a terminal) */
	unsigned short rows, cols; /* its window */
};

/* Makes the dyno's directory and its /app. Nothing is left behind on failure. */
int lcd_prepare(const struct lcd_dyno *d, cm_err *err);
/* Unmounts the dyno's /app and removes its directory; what is gone already is skipped, so it
 * may be called on what a crash left. */
int lcd_unprepare(const char *dir, cm_err *err);
/* The container config of the dyno (owned). */
struct lc_config *lcd_config(const struct lcd_dyno *d);

#endif
