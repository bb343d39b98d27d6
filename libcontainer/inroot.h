/* Paths inside a tree someone else controls (a container's rootfs, a bundle): resolved as if
 * the tree's top were "/", so that no symlink, ".." or /proc magic link in it leads out, and the
 * operation is then done on the fd that came back, never on the path again. System calls
 * only, no allocation: the container's init uses these between clone and exec. */
#ifndef LC_INROOT_H
#define LC_INROOT_H

#include <stddef.h>

enum lc_inroot_how {
	/* symlinks are followed as if root were "/": an absolute one or ".." stops at root */
	LC_IN_ROOT = 0,
	/* any symlink is refused (ELOOP) */
	LC_NO_SYMLINKS = 1,
	/* the path may not leave root at all: ".." above it or an absolute symlink is EXDEV */
	LC_BENEATH = 2,
};

/* Opens path (absolute or relative, both taken from root) with open flags (O_PATH, O_RDONLY,
 * O_DIRECTORY, O_NOFOLLOW...; O_CLOEXEC is added, O_CREAT is not supported). /proc magic
 * links (/proc/self/fd/N, /proc/self/exe, ...) are always refused with ELOOP. Uses openat2
 * (RESOLVE_IN_ROOT or RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS); without it (before Linux 5.6,
 * or under valgrind) it walks one component at a time with the same result. */
int lc_inroot_open(int root, const char *path, int flags, int how);

/* The walk lc_inroot_open falls back to without openat2, callable on its own so that tests
 * hold it to the same results. */
int lc_inroot_walk(int root, const char *path, int flags, int how);

/* Opens the directory that holds path's last component inside root (O_PATH), and copies that
 * component to name (of size bytes). The last component is neither followed nor opened: the
 * caller creates or opens it relative to the returned fd with O_NOFOLLOW or its *at() flags.
 * A last component of "", "." or ".." is refused with EINVAL. */
int lc_inroot_open_parent(int root, const char *path, char *name, size_t size);

/* "/proc/self/fd/N" for fd into out: operations that only take a path (mount(2), chmod)
 * reach the file the fd holds, whatever the path to it has become since. */
void lc_fd_path(char out[32], int fd);

/* chmod of the file an O_PATH fd holds, without following anything again. */
int lc_fchmod_path_fd(int fd, unsigned int mode);

#endif
