/*
 * buf: a growable byte buffer with a mandatory maximum size, after curl's
 * dynbuf. Every body the proxy holds lives in one, so no peer can make the
 * proxy allocate without bound.
 *
 * The first append that does not fit (over max, or memory short) is
 * remembered: every later append is refused too, without a look, so a
 * sentence is built as a plain sequence of appends and checked once at
 * the end with buf_result(), as curl's dynbuf is. What went in before the
 * failure stays, whole; buf_truncate() goes back to a length and forgets
 * the failure (to mark a text as cut, or undo a step).
 *
 * Ownership: struct buf is caller-owned (usually embedded); buf_free()
 * releases its data. data is NULL until the first append and is always
 * NUL-terminated after one (the NUL is not counted in len), so text bodies
 * can be handed to string functions.
 */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* len never exceeds this */
	int	 failed;	/* an append was refused: so is every one */
};

/* Start an empty buffer that will refuse to grow past max bytes. */
void	 buf_init(struct buf *b, size_t max);

/*
 * Append n bytes. Returns 0, or -1 when the result would exceed max or
 * memory is short, or an earlier append failed; on -1 the buffer is left
 * unchanged.
 */
int	 buf_append(struct buf *b, const void *p, size_t n);
int	 buf_append_str(struct buf *b, const char *s);
int	 buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));

/* 0 when every append so far went in, -1 after one did not. */
int	 buf_result(const struct buf *b);

/*
 * Back to the first len bytes (len <= b->len), and appends work again:
 * for "cut here and say so", or to undo what a failed step added.
 */
void	 buf_truncate(struct buf *b, size_t len);

/* Forget the content and any failure, keep the allocation and the max. */
void	 buf_reset(struct buf *b);

/* Hand the data to the caller (who frees it); the buffer becomes empty. */
char	*buf_steal(struct buf *b);

void	 buf_free(struct buf *b);

#endif /* BUF_H */
