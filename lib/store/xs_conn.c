/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Client connections: framing, output queues, back-pressure.
 *
 * A client that does not read cannot make the daemon hold more than a
 * bounded amount for it (XSA-326/XSA-416): once `outstanding` replies (plus,
 * for a guest, events) are queued unread, its further requests stay in the
 * kernel's socket buffer until it reads; watch events beyond
 * max_pending_bytes are dropped oldest first and counted.  A header with
 * len > max_payload is a protocol violation that ends the connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "xs_internal.h"

static bool over_outstanding(const vbd_store *s, const xs_conn *c)
{
	uint32_t n = c->out_replies + (c->priv ? 0 : c->out_events);
	return n >= s->lim.outstanding;
}

static void update_epoll(vbd_store *s, xs_conn *c)
{
	bool in = !c->stalled, out = c->out_head != NULL;
	struct epoll_event ev = { 0 };

	if (c->dead || (in == c->want_in && out == c->want_out))
		return;
	ev.events = (in ? EPOLLIN | EPOLLRDHUP : 0) | (out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
		c->want_in = in;
		c->want_out = out;
	}
}

int vbd__conn_new(vbd_store *s, int fd, unsigned domid, xs_conn **ret)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	xs_domain *d = domid ? vbd__domain_find(s, domid) : NULL;
	xs_conn *c;

	/* Per guest domain, so that no guest can lock out another, nor dom0. */
	if (d && d->nconns >= s->lim.conns_per_domain)
		return -EMFILE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->in = malloc(XS_IN_SIZE);
	if (!c->in) {
		free(c);
		return -ENOMEM;
	}
	c->kind = XS_SRC_CONN;
	c->fd = fd;
	c->domid = domid;
	c->priv = domid == 0;
	c->want_in = true;
	{
		/* Only for CONTROL "conns": which process a connection is. */
		struct ucred cr;
		socklen_t crl = sizeof(cr);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) == 0)
			c->pid = cr.pid;
	}
	ev.data.ptr = c;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		free(c->in);
		free(c);
		return r;
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->st.connections++;
	if (d)
		d->nconns++;
	if (ret)
		*ret = c;
	return 0;
}

static void free_buf(vbd_store *s, xs_conn *c, xs_buf *b)
{
	vbd__acct(s, c->domid)->out -= (int64_t)(sizeof(*b) + b->len);
	c->out_bytes -= b->len;
	s->st.pending_bytes -= b->len;
	if (b->event) {
		c->out_events--;
		c->out_event_bytes -= b->len;
	} else {
		c->out_replies--;
	}
	if (b->small && s->buf_cached < XS_BUF_CACHE) {
		b->next = s->buf_cache;
		s->buf_cache = b;
		s->buf_cached++;
	} else {
		free(b);
	}
}

void vbd__conn_buf_cache_free(vbd_store *s)
{
	xs_buf *b;

	while ((b = s->buf_cache)) {
		s->buf_cache = b->next;
		free(b);
	}
	s->buf_cached = 0;
}

/* One allocation less per message: a reply or event is mostly a few dozen
 * bytes, and the buffer of the last one sent is free again by the next. */
static xs_buf *buf_alloc(vbd_store *s, size_t blen)
{
	xs_buf *b;

	if (blen > XS_BUF_SMALL) {
		b = malloc(sizeof(*b) + blen);
		if (b)
			b->small = false;
		return b;
	}
	if ((b = s->buf_cache)) {
		s->buf_cache = b->next;
		s->buf_cached--;
		return b;
	}
	b = malloc(sizeof(*b) + XS_BUF_SMALL);
	if (b)
		b->small = true;
	return b;
}

void vbd__conn_drop_txns(vbd_store *s, xs_conn *c)
{
	while (c->txns) {
		xs_txn *t = c->txns;
		c->txns = t->next;
		vbd__txn_done(s, t);
		free(t);
		s->st.transactions--;
	}
	c->ntxns = 0;
}

/* Ends a connection now as far as anyone can see; memory goes at reap.
 * The fd is closed, unless keep_fd. */
static void conn_end(vbd_store *s, xs_conn *c, bool keep_fd)
{
	xs_domain *d;

	if (c->dead)
		return;
	c->dead = true;
	vbd__trace_unsubscribe(s, c);
	d = c->priv ? NULL : vbd__domain_find(s, c->domid);
	if (d && d->nconns)
		d->nconns--;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (!keep_fd)
		close(c->fd);
	c->fd = -1;
	vbd__watch_free_all(s, c);
	vbd__conn_drop_txns(s, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = s->dead_conns;
	s->dead_conns = c;
	s->st.connections--;
}

void vbd__conn_kill(vbd_store *s, xs_conn *c)
{
	conn_end(s, c, false);
}

static void conn_free(vbd_store *s, xs_conn *c);

int vbd__conn_detach(vbd_store *s, xs_conn *c)
{
	xs_conn **pp;
	int fd = c->fd;

	if (c->dead)
		return -ENOENT;
	/* Out of the dirty list first: the reap below frees c, and no flush
	 * runs before it (a kill inside vbd_store_process() has one). */
	if (c->dirty) {
		for (pp = &s->dirty, s->dirty_tail = NULL; *pp;) {
			if (*pp == c) {
				*pp = c->dnext;
				continue;
			}
			s->dirty_tail = *pp;
			pp = &(*pp)->dnext;
		}
		c->dirty = false;
	}
	/* c alone is freed (first on the dead list now): another dead
	 * connection may still be in the dirty list, for the next flush. */
	conn_end(s, c, true);
	s->dead_conns = c->next;
	conn_free(s, c);
	/* What the client sent that was never read (a stalled connection's
	 * requests) belongs to the connection that ended: the next one on
	 * this socket must not see it. */
	while (recv(fd, s->scratch, sizeof(s->scratch), MSG_DONTWAIT) > 0)
		;
	return fd;
}

static void conn_free(vbd_store *s, xs_conn *c)
{
	while (c->out_head) {
		xs_buf *b = c->out_head;
		c->out_head = b->next;
		free_buf(s, c, b);
	}
	free(c->in);
	free(c);
}

void vbd__conn_reap(vbd_store *s)
{
	while (s->dead_conns) {
		xs_conn *c = s->dead_conns;

		s->dead_conns = c->next;
		conn_free(s, c);
	}
}

/* Drops the oldest event nobody has started to write. */
static bool drop_oldest_event(vbd_store *s, xs_conn *c)
{
	xs_buf **pp, *b;

	for (pp = &c->out_head; (b = *pp); pp = &b->next) {
		if (b->event && b->off == 0) {
			*pp = b->next;
			if (c->out_tail == b) {
				xs_buf *t = c->out_head;
				while (t && t->next)
					t = t->next;
				c->out_tail = t;
			}
			free_buf(s, c, b);
			s->st.events_dropped++;
			return true;
		}
	}
	return false;
}

int vbd__conn_send(vbd_store *s, xs_conn *c, uint32_t type, uint32_t req_id,
                   uint32_t tx_id, const void *p1, size_t l1,
                   const void *p2, size_t l2, bool event)
{
	size_t len = l1 + l2, blen = XS_HDR_SIZE + len;
	struct xsd_sockmsg h = { type, req_id, tx_id, (uint32_t)len };
	xs_buf *b;

	if (c->dead)
		return 0;
	/* Never send what a client must treat as a protocol violation (XSA-72).
	 * A trace record is no xenstore message: its reader allows more. */
	if (len > s->lim.max_payload && !c->trace)
		return -E2BIG;
	if (event) {
		size_t cap = c->priv ? s->lim.max_pending_bytes_priv : s->lim.max_pending_bytes;

		while (c->out_event_bytes + blen > cap)
			if (!drop_oldest_event(s, c)) {
				s->st.events_dropped++;
				return -ENOBUFS;
			}
		/* Nobody can drive a guest past its memory quota by making
		 * events for it (cxenstored drops them too).  Replies are
		 * bounded by `outstanding` instead: a lost reply would hang
		 * the client. */
		if (!c->priv && vbd__acct_over(s, c->domid, (int64_t)(sizeof(*b) + blen))) {
			s->st.events_dropped++;
			return -ENOBUFS;
		}
	}
	b = buf_alloc(s, blen);
	if (!b) {
		/* A lost reply would leave the client waiting forever: end the
		 * connection instead, so that it sees EOF.  A lost event is
		 * counted like a dropped one. */
		if (event)
			s->st.events_dropped++;
		else
			vbd__conn_kill(s, c);
		return -ENOMEM;
	}
	b->next = NULL;
	b->len = (uint32_t)blen;
	b->off = 0;
	b->event = event;
	memcpy(b->data, &h, XS_HDR_SIZE);
	if (l1)
		memcpy(b->data + XS_HDR_SIZE, p1, l1);
	if (l2)
		memcpy(b->data + XS_HDR_SIZE + l1, p2, l2);
	if (c->out_tail)
		c->out_tail->next = b;
	else
		c->out_head = b;
	c->out_tail = b;
	c->out_bytes += blen;
	vbd__acct(s, c->domid)->out += (int64_t)(sizeof(*b) + blen);
	if (event) {
		c->out_events++;
		c->out_event_bytes += blen;
		s->st.events_sent++;
		c->nevents++;
	} else {
		c->out_replies++;
	}
	s->st.pending_bytes += blen;
	if (s->st.pending_bytes > s->st.pending_bytes_max)
		s->st.pending_bytes_max = s->st.pending_bytes;
	if (!c->dirty) {
		/* FIFO: a watch event queued by a commit leaves before the
		 * writer's own reply. */
		c->dirty = true;
		c->dnext = NULL;
		if (s->dirty_tail)
			s->dirty_tail->dnext = c;
		else
			s->dirty = c;
		s->dirty_tail = c;
	}
	return 0;
}

static void parse_input(vbd_store *s, xs_conn *c);

void vbd__conn_flush(vbd_store *s, xs_conn *c)
{
	while (c->out_head && !c->dead) {
		struct iovec iov[32];
		struct msghdr msg = { 0 };
		xs_buf *b = c->out_head;
		int n = 0;
		ssize_t w;

		for (; b && n < 32; b = b->next, n++) {
			iov[n].iov_base = b->data + b->off;
			iov[n].iov_len = b->len - b->off;
		}
		/* sendmsg, not writev: a vanished client must not raise SIGPIPE in
		 * whatever process embeds us. */
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			vbd__conn_kill(s, c);
			return;
		}
		while (w > 0) {
			b = c->out_head;
			if ((size_t)w < b->len - b->off) {
				b->off += (uint32_t)w;
				break;
			}
			w -= b->len - b->off;
			c->out_head = b->next;
			if (!c->out_head)
				c->out_tail = NULL;
			free_buf(s, c, b);
		}
	}
	if (c->dead)
		return;
	if (c->trace && c->trace_lost)
		vbd__trace_drained(s, c);
	if (c->eof) {
		if (!c->out_head)
			vbd__conn_kill(s, c);
		else
			update_epoll(s, c);
		return;
	}
	if (c->stalled && !over_outstanding(s, c)) {
		c->stalled = false;
		parse_input(s, c);
	}
	update_epoll(s, c);
}

/* Handles every complete request in the input buffer, unless the client
 * has too much unread output. */
static void parse_input(vbd_store *s, xs_conn *c)
{
	uint32_t off = 0;

	/* A subscriber's connection carries the trace only: what it sends
	 * after subscribing is read (so its closing is seen) and ignored. */
	if (c->trace) {
		c->in_len = 0;
		return;
	}
	while (!c->dead && !c->trace && c->in_len - off >= XS_HDR_SIZE) {
		struct xsd_sockmsg h;

		memcpy(&h, c->in + off, XS_HDR_SIZE);
		if (h.len > s->lim.max_payload) {
			s->st.conns_killed++;
			vbd__conn_kill(s, c);
			return;
		}
		if (c->in_len - off < XS_HDR_SIZE + h.len)
			break;
		if (over_outstanding(s, c)) {
			c->stalled = true;
			break;
		}
		memcpy(s->scratch, c->in + off + XS_HDR_SIZE, h.len);
		s->scratch[h.len] = 0;
		off += XS_HDR_SIZE + h.len;
		vbd__ops_handle(s, c, &h, s->scratch);
	}
	if (c->dead)
		return;
	if (c->trace) {
		/* Requests sent after "trace" in the same read: ignored too. */
		c->in_len = 0;
		return;
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
}

void vbd__conn_on_event(vbd_store *s, xs_conn *c, uint32_t events)
{
	int reads;

	if (events & EPOLLOUT)
		vbd__conn_flush(s, c);
	/* A few reads per wakeup, so one busy client cannot starve the rest. */
	for (reads = 0; reads < 4 && !c->dead && !c->stalled && c->in_len < XS_IN_SIZE; reads++) {
		ssize_t n = read(c->fd, c->in + c->in_len, XS_IN_SIZE - c->in_len);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			vbd__conn_kill(s, c);
			return;
		}
		if (n == 0) {
			/* Half-closed: answer what was asked, then close. */
			c->eof = true;
			c->stalled = true;
			if (!c->out_head)
				vbd__conn_kill(s, c);
			break;
		}
		c->in_len += (uint32_t)n;
		parse_input(s, c);
		if (c->in_len < XS_IN_SIZE && (size_t)n < XS_IN_SIZE / 2)
			break;
	}
	if (!c->dead && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		vbd__conn_kill(s, c);
	/* With output queued, the flush at the end of this round tells epoll
	 * (EPOLLOUT only if the socket is full): no epoll_ctl per reply. */
	if (!c->dead && !c->dirty)
		update_epoll(s, c);
}
