/* Scope-bound cleanup: a variable declared with one of these is released when it goes out of
 * scope. Hand ownership on with cm_steal_ptr()/cm_steal_fd(). */
#ifndef CM_CLEANUP_H
#define CM_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cm_freep(void *p)
{
	free(*(void **)p);
}

static inline void cm_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cm_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void cm_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

void cm_strv_free(char **v);
static inline void cm_strv_freep(char ***v)
{
	cm_strv_free(*v);
}

#define _cleanup_free_     __attribute__((cleanup(cm_freep)))
#define _cleanup_close_    __attribute__((cleanup(cm_closep)))
#define _cleanup_fclose_   __attribute__((cleanup(cm_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(cm_closedirp)))
#define _cleanup_strv_     __attribute__((cleanup(cm_strv_freep)))

#define cm_steal_ptr(p)                                                                            \
	({                                                                                         \
		__typeof__(p) _tmp = (p);                                                          \
		(p) = NULL;                                                                        \
		_tmp;                                                                              \
	})

#define cm_steal_fd(fd)                                                                            \
	({                                                                                         \
		int _tmp = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_tmp;                                                                              \
	})

#define CM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
