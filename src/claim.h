/*
 * claim: the audit sentence sent to Wingman for one request, in the
 * integration guide's formats ("Stored memory {key} for user {uid}...",
 * "Updated memory {key}", "Deleted memory {key}", "Bulk {op} for user
 * {uid}...: {count} items", "Exported {count} memories to {path}") and the
 * same style for the other kinds, followed by a bracketed tail that lets
 * an auditor correlate: "[op=create method=POST status=200 request=ID]".
 *
 * Nothing personal goes in: entity ids only as pseudonyms (anon.h), memory
 * and event ids only when they look like opaque ids (UUID or hex),
 * pseudonymized otherwise; never memory text, metadata, headers or paths
 * of unclassified routes.
 *
 * Ownership: the caller owns the struct buf; claim_build() appends to it.
 */
#ifndef CLAIM_H
#define CLAIM_H

#include "anon.h"
#include "buf.h"
#include "route.h"

/*
 * Longest claim we build. A request naming more memory ids than fit in
 * one gets several claims, one per line, each naming its share of the
 * ids, with "part=K/N" in the tail; CLAIM_SET_MAX bounds them all
 * (ROUTE_MAX_MEMORY_IDS ids of at most 64 characters).
 */
#define CLAIM_MAX	2048
#define CLAIM_SET_MAX	(256 * 1024)

/*
 * Append the claims for request r (classified, response parsed) to out:
 * usually one; several lines when its memory ids take more than one
 * claim (an add reporting ADD, UPDATE and DELETE events gets one
 * sentence for each). Every memory id stored in r is named.
 * method: as received; status: the status the client got; error: the
 * proxy's error code when the proxy answered itself ("upstream_timeout"),
 * else NULL; approval_id: the Wingman approval the request went through
 * the gate with, else NULL; request_id: never NULL. Returns 0, or -1
 * when the buffer is full or memory is short.
 */
int	 claim_build(struct buf *out, const struct route *r,
	    const struct anon *a, const char *method, int status,
	    const char *error, const char *approval_id,
	    const char *request_id);

/*
 * "Starting bulk delete for user u:...: N items [op=... method=...
 * approval=ID request=ID]": logged when an approved request is released.
 */
int	 claim_build_start(struct buf *out, const struct route *r,
	    const struct anon *a, const char *method, long count,
	    const char *approval_id, const char *request_id);

/*
 * What the export check found (export.h), for claim_build_export(): path
 * names the archive file, NULL for the normalized route pattern; count is
 * the memories in the body (-1 unknown); foreign > 0 means the export was
 * blocked for that many memories of other entities.
 */
struct claim_export {
	const char	*path;
	long		 count;
	long		 foreign;
};

/*
 * The claim of a request that went through the export check, whatever its
 * route kind (a list used as an export claims as an export): "Exported
 * {count} memories to {path} for user u:...", or, when x->foreign > 0,
 * "Blocked export of {count} memories for user u:...: {foreign} foreign
 * items". Other arguments and the tail as for claim_build().
 */
int	 claim_build_export(struct buf *out, const struct route *r,
	    const struct anon *a, const char *method, int status,
	    const char *error, const struct claim_export *x,
	    const char *request_id);

/*
 * "{verb} file {path} [op=... method=... request=ID]": the export
 * archive's "Created file" (what Wingman is asked to verify) and "Removed
 * file" claims. path must hold nothing personal (it is archive_dir and
 * the request id).
 */
int	 claim_build_file(struct buf *out, const struct route *r,
	    const char *method, const char *verb, const char *path,
	    const char *request_id);

/*
 * 1 if s is 1 to max characters of [A-Za-z0-9._:-]: safe in a claim's
 * tail, a header and a file name (request ids, archive names).
 */
int	 claim_token_ok(const char *s, size_t max);

/*
 * "user #42": the entity a legacy v1 entity delete names by Mem0's
 * internal number (r->entity_number, not NULL); a value that is not a
 * number is pseudonymized ("user #u:1a2b3c4d"). Returns 0 or -1.
 */
int	 claim_put_entity_number(struct buf *out, const struct anon *a,
	    const struct route *r);

/*
 * 1 if s[0..len) may appear in a claim as is: a UUID, a hex string of 8
 * to 64 characters mixing digits and letters, or a number of at most 6
 * digits. Anything else (a longer number could be a phone or card
 * number, a word could be a name) is pseudonymized.
 */
int	 claim_id_is_opaque(const char *s, size_t len);

#endif /* CLAIM_H */
