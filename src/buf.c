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
	if (n > b->max || b->len > b->max - n)
		return (-1);
	if (buf_reserve(b, b->len + n + 1) == -1)
		return (-1);
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

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return (-1);
	if ((size_t)n > b->max || b->len > b->max - (size_t)n)
		return (-1);
	if (buf_reserve(b, b->len + (size_t)n + 1) == -1)
		return (-1);
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

void
buf_reset(struct buf *b)
{
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
	return (p);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
