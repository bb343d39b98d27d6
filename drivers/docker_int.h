/* The docker driver's parts, shared by its files: the driver (docker.c: creating it, building
 * a release's image, removing images and what an hsup that died left) and its dynos
 * (docker_dyno.c: one container each, created, attached, started, waited for and removed on
 * the loop). */
#ifndef HS_DOCKER_INT_H
#define HS_DOCKER_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "drivers/docker_api.h"
#include "drivers/driver.h"
#include "drivers/slugstore.h"

/* Every dyno runs as this user and group (the files of /app are theirs): below the
 * libcontainer driver's UID range, so that no dyno of one driver shares a UID with one of
 * the other. Containers keep dynos apart, not UIDs. */
#define HS_DOCKER_DYNO_UID 2999

/* Labels of hsup's containers and images. */
#define HS_DOCKER_L_OWNER    "hsup.owner"    /* the state of the hsup that made it */
#define HS_DOCKER_L_INSTANCE "hsup.instance" /* that hsup's own run (pid and time) */
#define HS_DOCKER_L_APP      "hsup.app"
#define HS_DOCKER_L_RELEASE  "hsup.release"
#define HS_DOCKER_L_DYNO     "hsup.dyno"

struct hs_docker_driver {
	struct hs_driver base;
	struct hs_docker_conn conn;
	struct hs_docker_api api; /* the loop's */
	struct hs_slugstore slugs;
	char *manifest;  /* the stack manifest's path */
	char *init_path; /* the dyno init on the host, bound read-only at HS_DOCKER_INIT */
	char *owner, *instance;
	bool image_cache; /* DOCKER_IMAGE_CACHE=1: images are never removed */
	pthread_mutex_t lock;
	char **images; /* the release images builds hold (one entry per build) */
	size_t nimages;
};

#define HS_DOCKER_INIT "/dev/init"

struct hs_docker_build {
	struct hs_build base;
	char *image; /* "hsup-release/<app>:v<version>-<hash>" */
	char *app;
	long long version;
};

#define hs_docker_log(d, ...)                                                                      \
	do {                                                                                       \
		if ((d)->base.conf.log)                                                            \
			(d)->base.conf.log(__VA_ARGS__);                                           \
	} while (0)

extern const struct hs_driver_ops hs_driver_docker;

/* Labels every container and image of this hsup carries (owned). */
json_t *hs_docker_labels(const struct hs_docker_driver *d);

int hs_docker_start(struct hs_driver *d, const struct hs_dyno_spec *spec,
                    const struct hs_dyno_cbs *cbs, void *data, struct hs_dyno_proc **out,
                    cm_err *err);
int hs_docker_signal(struct hs_dyno_proc *p, int sig, cm_err *err);
void hs_docker_release(struct hs_dyno_proc *p);
json_t *hs_docker_record(struct hs_dyno_proc *p);
int hs_docker_adopt(struct hs_driver *d, json_t *record, hs_driver_exit_cb cb, void *data,
                    struct hs_dyno_proc **out, cm_err *err);

#endif
