/* A logplex endpoint fast enough not to be what a benchmark measures: HTTP/1.1 with keep-alive
 * on 127.0.0.1 (epoll, one thread), every POST answered 204 at once. It counts requests and the
 * octet-counted frames of their bodies, checks each body against its Logplex-Msg-Count, and
 * prints the totals as one line of "key=value" when it gets SIGTERM or SIGINT:
 *
 *   logplex_sink PORTFILE      (the port it listens on is written to PORTFILE)
 *   -> requests=4000 frames=2000000 bad=0 bytes=141888890
 *
 * bad counts the requests whose body is not a sequence of octet-counted frames, or whose
 * frames are not as many as Logplex-Msg-Count says. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEAD (64 * 1024)

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static unsigned long long requests, frames, bad, bytes;

static const char answer[] = "HTTP/1.1 204 No Content\r\n\r\n";

/* The value of header name in head (NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
			return p + 3 + n;
	return NULL;
}

static void count_body(const char *head, const char *body, size_t len)
{
	const char *mc = header(head, "Logplex-Msg-Count");
	unsigned long long n = 0;
	size_t pos = 0;
	while (pos < len) {
		char *end;
		unsigned long long flen = strtoull(body + pos, &end, 10);
		if (end == body + pos || *end != ' ' || (size_t)(end + 1 - body) + flen > len) {
			bad++;
			return;
		}
		pos = (size_t)(end + 1 - body) + flen;
		n++;
	}
	if (!mc || strtoull(mc, NULL, 10) != n)
		bad++;
	frames += n;
	bytes += len;
}

/* Answers every whole request in c's buffer; -1 when the connection is to be closed. */
static int serve(struct conn *c)
{
	size_t off = 0;
	for (;;) {
		char *end = memmem(c->buf + off, c->len - off, "\r\n\r\n", 4);
		if (!end)
			break;
		size_t head_len = (size_t)(end - (c->buf + off)) + 4;
		char save = c->buf[off + head_len];
		c->buf[off + head_len] = 0;
		const char *cl = header(c->buf + off, "Content-Length");
		size_t body = cl ? strtoull(cl, NULL, 10) : 0;
		c->buf[off + head_len] = save;
		if (c->len - off < head_len + body)
			break;
		c->buf[off + head_len - 1] = 0; /* for header(): the head ends at "\r\n\r" */
		count_body(c->buf + off, c->buf + off + head_len, body);
		requests++;
		if (write(c->fd, answer, sizeof(answer) - 1) != (ssize_t)sizeof(answer) - 1)
			return -1;
		off += head_len + body;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return c->len > MAX_HEAD + (64u << 20) ? -1 : 0;
}

static int on_readable(struct conn *c)
{
	for (;;) {
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 1 << 20;
			c->buf = realloc(c->buf, c->cap + 1);
			if (!c->buf)
				abort();
		}
		ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r < 0 && errno == EAGAIN)
			return serve(c);
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

static int listen_on(const char *portfile)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 128) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &al) < 0) {
		perror("logplex_sink: listen");
		exit(1);
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", ntohs(a.sin_port)) < 0 || fclose(f) != 0 ||
	    rename(tmp, portfile) < 0) {
		perror("logplex_sink: port file");
		exit(1);
	}
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: logplex_sink PORTFILE\n");
		return 2;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC), lfd = listen_on(argv[1]);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &sfd) {
				printf("requests=%llu frames=%llu bad=%llu bytes=%llu\n", requests,
				       frames, bad, bytes);
				return 0;
			}
			if (!evs[i].data.ptr) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC),
				    one = 1;
				if (fd < 0)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				struct conn *c = calloc(1, sizeof(*c));
				c->fd = fd;
				struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				continue;
			}
			struct conn *c = evs[i].data.ptr;
			if (on_readable(c) < 0) {
				close(c->fd);
				free(c->buf);
				free(c);
			}
		}
	}
}
