/*
 * buf: capped growable buffer. See buf.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_ALLOC	64

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->failed = 0;
}

/* Refuse this append, and every later one. */
static int
buf_fail(struct buf *b)
{
	b->failed = 1;
	return (-1);
}

static int
buf_reserve(struct buf *b, size_t need)
{
	size_t	 ncap;
	char	*p;

	/* need counts the terminating NUL. */
	if (need <= b->cap)
		return (0);
	ncap = b->cap ? b->cap : BUF_MIN_ALLOC;
	while (ncap < need) {
		if (ncap > ((size_t)-1) / 2)
			return (-1);
		ncap *= 2;
	}
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return (-1);
	b->data = p;
	b->cap = ncap;
	return (0);
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->failed)
		return (-1);
	if (n > b->max || b->len > b->max - n ||
	    buf_reserve(b, b->len + n + 1) == -1)
		return (buf_fail(b));
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return (0);
}

int
buf_append_str(struct buf *b, const char *s)
{
	return (buf_append(b, s, strlen(s)));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;

	if (b->failed)
		return (-1);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (size_t)n > b->max || b->len > b->max - (size_t)n ||
	    buf_reserve(b, b->len + (size_t)n + 1) == -1)
		return (buf_fail(b));
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return (0);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return (rc);
}

int
buf_result(const struct buf *b)
{
	return (b->failed ? -1 : 0);
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
	b->failed = 0;
}

void
buf_reset(struct buf *b)
{
	b->failed = 0;
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

char *
buf_steal(struct buf *b)
{
	char	*p;

	p = b->data;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = 0;
	return (p);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = 0;
}
