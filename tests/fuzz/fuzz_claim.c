/*
 * Fuzz the claim and SCOPE builders with a canary: a personal id planted
 * in the request must never come out in a claim, a SCOPE line, a reason
 * or an instruction. Input: METHOD \n TARGET \n CONTENT-TYPE \n REASON \n
 * BODY, where "$U" stands for the canary e-mail address and "$E" for it
 * percent-encoded; a canary in any output aborts (a finding).
 */
#include "anon.h"
#include "buf.h"
#include "claim.h"
#include "fuzz.h"
#include "gate.h"
#include "route.h"

#define CANARY		"alice.canary@example.com"
#define CANARY_ENC	"alice.canary%40example.com"

/* s with "$U" and "$E" replaced (malloc'd, NUL-terminated; *len set). */
static char *
plant(const char *s, size_t n, size_t *len)
{
	struct buf	 b;
	size_t		 i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < n; i++) {
		if (s[i] == '$' && i + 1 < n && (s[i + 1] == 'U' ||
		    s[i + 1] == 'E')) {
			(void)buf_append_str(&b, s[i + 1] == 'U' ? CANARY :
			    CANARY_ENC);
			i++;
		} else
			(void)buf_append(&b, s + i, 1);
	}
	(void)buf_append(&b, "", 1);
	*len = b.len - 1;
	return (buf_steal(&b));
}

/* Does the input itself spell the canary's name (then it proves nothing)? */
static int
spelled(const uint8_t *data, size_t size)
{
	size_t	 i, k;

	for (i = 0; i + 6 <= size; i++) {
		for (k = 0; k < 6 && (data[i + k] | 0x20) == "canary"[k]; k++)
			;
		if (k == 6)
			return (1);
	}
	return (0);
}

static int	 armed;		/* the canary can only come from "$U", "$E" */

static void
check(const struct buf *b)
{
	if (armed && b->data != NULL && strcasestr(b->data, "canary") != NULL)
		abort();		/* personal data leaked */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct anon		 anon;
	static int			 ready;
	struct gate_request		 rq;
	struct gate_instr		 in;
	struct claim_export		 x;
	struct route			 r;
	struct buf			 out, scope, reason;
	const char			*why;
	char				*method, *raw, *target, *ctype, *rtext;
	char				*body, *query;
	size_t				 off = 0, n, tlen, blen, bad;

	if (!ready) {
		if (anon_init(&anon, "0123456789abcdef", 16) == -1)
			abort();
		ready = 1;
	}
	armed = !spelled(data, size);
	method = fuzz_field(data, size, &off, NULL);
	raw = fuzz_field(data, size, &off, &n);
	target = plant(raw, n, &tlen);
	free(raw);
	ctype = fuzz_field(data, size, &off, NULL);
	raw = fuzz_field(data, size, &off, &n);
	rtext = plant(raw, n, &n);
	free(raw);
	body = plant((const char *)data + (off < size ? off : size),
	    size - (off < size ? off : size), &blen);
	if (route_target_check(target, &bad, &why) == -1)
		target[bad] = '\0';
	if ((query = strchr(target, '?')) != NULL)
		*query++ = '\0';
	if (route_classify(&r, method, target, query, body, blen,
	    ctype[0] ? ctype : NULL, ROUTE_DIALECT_AUTO) == 0) {
		buf_init(&out, CLAIM_MAX + 256);
		if (claim_build(&out, &r, &anon, method, 200, NULL, NULL,
		    "rid") == 0)
			check(&out);
		buf_reset(&out);
		if (claim_build(&out, &r, &anon, method, 504,
		    "upstream_timeout", "0b5e1c3a-1111-4a2b-9c3d-222233334444",
		    "rid") == 0)
			check(&out);
		buf_reset(&out);
		if (claim_build_start(&out, &r, &anon, method, 3, NULL,
		    "rid") == 0)
			check(&out);
		buf_reset(&out);
		x.path = r.pattern;
		x.count = 2;
		x.foreign = 1;
		if (claim_build_export(&out, &r, &anon, method, 502,
		    "export_scope_violation", &x, "rid") == 0)
			check(&out);
		buf_free(&out);

		memset(&rq, 0, sizeof(rq));
		rq.route = &r;
		rq.method = method;
		rq.target = target;
		rq.body = body;
		rq.body_len = blen;
		rq.content_type = ctype;
		buf_init(&scope, 4096);
		buf_init(&reason, GATE_REASON_MAX + 16);
		if (gate_scope(&scope, &anon, &rq) == 0)
			check(&scope);
		if (gate_reason(&reason, &anon, &r, rtext) == 0)
			check(&reason);
		memset(&in, 0, sizeof(in));
		in.route = &r;
		in.scope = scope.data != NULL ? scope.data : "";
		in.reason = reason.data;
		in.count = -1;
		in.expires = 1767225600;
		buf_init(&out, 16384);
		if (gate_instruction(&out, &anon, &in) == 0)
			check(&out);
		buf_free(&out);
		buf_free(&scope);
		buf_free(&reason);
	}
	route_free(&r);
	free(method);
	free(target);
	free(ctype);
	free(rtext);
	free(body);
	return (0);
}
