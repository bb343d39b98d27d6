/* Resources a dyno must have to itself on a host: a UID, and the /30 subnet that UID selects.
 *
 * As in the Go hsup: UIDs come from LIBCONTAINER_DYNO_UID_MIN..LIBCONTAINER_DYNO_UID_MAX
 * (3000..11000), and the UID's offset from the minimum counts /30 subnets up from the base
 * address of LIBCONTAINER_DYNO_SUBNET (172.16.0.28/12: the 172.16.0.0/12 block, starting at
 * 172.16.0.28/30). A /30 holds four addresses: the network, the gateway (the host's side of
 * the dyno's veth), the host (the dyno's eth0) and the broadcast address.
 *
 * Reservations are files under a state directory shared by every hsup of the host, one per
 * UID, naming the owner (pid, start time, boot) and what the owner made for it. Taking one is
 * atomic (a complete record renamed into place without replacing), so two live owners never
 * hold one UID; a reservation whose owner has exited, or was made before the last boot, is
 * reported by al_list_dead so the caller can remove what it left and then free it. */
#ifndef AL_ALLOC_H
#define AL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define AL_ENV_SUBNET      "LIBCONTAINER_DYNO_SUBNET"
#define AL_ENV_UID_MIN     "LIBCONTAINER_DYNO_UID_MIN"
#define AL_ENV_UID_MAX     "LIBCONTAINER_DYNO_UID_MAX"
#define AL_DEFAULT_SUBNET  "172.16.0.28/12"
#define AL_DEFAULT_UID_MIN 3000
#define AL_DEFAULT_UID_MAX 11000

/* Addresses are host-order integers throughout. */
struct al_config {
	uint32_t base;   /* the base address as given: 172.16.0.28 */
	unsigned prefix; /* the block's prefix length: 12 */
	uint32_t uid_min, uid_max;
};

/* Values of the three variables; NULL, empty or blank means unset (the default). A value that
 * is malformed, or a range of UIDs with more UIDs than the block has /30 subnets from its base
 * address, is refused with a message naming the variable and the part that is wrong. */
int al_config_parse(struct al_config *c, const char *subnet, const char *uid_min,
                    const char *uid_max, cm_err *err);
/* The same from the environment (read it before threads may change the environment). */
int al_config_from_env(struct al_config *c, cm_err *err);

struct al_subnet {
	uint32_t network, gateway, host, broadcast;
	unsigned prefix; /* 30 */
};

/* The /30 of uid: ((base >> 2) + (uid - uid_min)) << 2, as the Go hsup computed it. Fails for
 * a uid outside the range (a configuration al_config_parse accepted never leaves the block). */
int al_subnet_for_uid(const struct al_config *c, uint32_t uid, struct al_subnet *sn, cm_err *err);
/* The block itself: 172.16.0.0 and 12 for the default. */
uint32_t al_block_network(const struct al_config *c);
/* How many /30 subnets the block has from its base address on. */
uint64_t al_block_subnets(const struct al_config *c);

/* IPv4 parsing shared with the network's variables: dotted quad, no leading zeros. */
#define AL_ADDR_LEN 16
uint32_t al_mask(unsigned prefix);
const char *al_addr_str(uint32_t addr, char buf[AL_ADDR_LEN]);
bool al_parse_addr(const char *s, size_t len, uint32_t *addr);
/* The value of a variable without the blanks around it, its length in *len; NULL when unset
 * or blank. */
const char *al_trimmed(const char *v, size_t *len);
/* "a.b.c.d/n". On failure *why says which part is wrong (a static string). */
bool al_parse_cidr(const char *s, size_t len, uint32_t *addr, unsigned *prefix, const char **why);

/* Opens <state_dir>/<name>, making it (mode 0700) if needed; it must belong to this user and be
 * writable by nobody else. */
int al_open_state_subdir(const char *state_dir, const char *name, cm_err *err);
/* This boot's /proc/sys/kernel/random/boot_id (37 bytes with the NUL). */
int al_read_boot_id(char *buf, size_t size, cm_err *err);

/* Reservations. An al_alloc may be shared by the threads of the process that opened it; its
 * owner is that process. Every call may block (file system, a lock held briefly by another
 * hsup). */
struct al_alloc;

/* Opens (making it if needed) <state_dir>/uids, which must belong to this user and be
 * writable by nobody else. */
int al_open(const char *state_dir, const struct al_config *c, struct al_alloc **out, cm_err *err);
void al_close(struct al_alloc *a);
const struct al_config *al_config_of(const struct al_alloc *a);

/* Reserves a free UID of the range for this process. Fails (code EAGAIN) when every UID is
 * reserved, counting those of dead owners until they are freed. */
int al_reserve(struct al_alloc *a, uint32_t *uid, cm_err *err);

struct al_field {
	const char *key, *value;
};
/* Replaces what the record of uid (reserved by this process) says was made for it: free-form
 * names (veth, netns, cgroup, container state, dyno directory). Record a name before making
 * the thing, so a crash in between leaves it findable. */
int al_record(struct al_alloc *a, uint32_t uid, const struct al_field *fields, size_t n,
              cm_err *err);
/* Frees uid, reserved by this process. */
int al_release(struct al_alloc *a, uint32_t uid, cm_err *err);

struct al_reservation {
	uint32_t uid;
	pid_t pid; /* 0 when the record could not be read */
	unsigned long long start_time;
	char boot_id[40];
	char **fields; /* key, value, key, value, ..., NULL */
	char *why;     /* why it is dead, in words */
	char *raw;     /* the record as read: al_release_dead frees only this very record */
	size_t rawlen;
};

/* The reservations whose owner is dead: exited (or its pid now another process's), from
 * another boot, or an unreadable record. Sorted by UID. Temporary files of dead writers are
 * removed on the way. */
int al_list_dead(struct al_alloc *a, struct al_reservation **out, size_t *n, cm_err *err);
/* The value of a field, or NULL. */
const char *al_field(const struct al_reservation *r, const char *key);
/* Frees a dead reservation once what it named is gone; a record that changed meanwhile (freed
 * and taken again) is left alone. */
int al_release_dead(struct al_alloc *a, const struct al_reservation *r, cm_err *err);
void al_reservations_free(struct al_reservation *r, size_t n);

#endif
