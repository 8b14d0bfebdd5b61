/* SPDX-License-Identifier: MIT */
/*
 * The peer store: every peer the gateway may serve, most of them not loaded,
 * in one database that the gateway reads on a peer's first handshake and
 * sixgatectl edits.  Packet-free and EAL-free.
 *
 * A store is an opaque handle over a backend (struct sg_store_ops): SQLite
 * (one file, WAL mode, a versioned schema migrated on open, readable with
 * the sqlite3 CLI), or PostgreSQL for a fleet of gateways sharing one
 * database (postgres.c: the same schema and migrations, a trigger that
 * NOTIFYs every change, a handle that reconnects by itself).
 *
 * Errors are a negative errno and one line in sg_store_error(): "PATH: what
 * went wrong" (-ENOENT: no such peer or no such file, -EBUSY: the database
 * is locked by another process, -EINVAL: not a store or a corrupt one,
 * -EACCES: a file other users may read or that we may not, -EEXIST: a name or
 * key that is another peer's, -ENOTCONN: the database server cannot be
 * reached (PostgreSQL; the handle tries again on a later call, at most once
 * a second), -EIO: anything else the backend reports).  The PATH of a
 * PostgreSQL URI is shown without its password.
 *
 * A handle is for one thread at a time; each thread opens its own.
 */
#ifndef SG_STORE_H
#define SG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SG_STORE_NAME_MAX	 64 /* NUL included */
#define SG_STORE_MAX_ALLOWED_IPS 16
#define SG_STORE_SCHEMA_VERSION	 2
#define SG_STORE_ERR_LEN	 256

/* An IPv4 or IPv6 prefix, network order (IPv4 in the first 4 bytes). */
struct sg_store_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t len;
	uint8_t addr[16];
};

struct sg_store_peer {
	int64_t id; /* the backend's row id (0 for a new peer) */
	char name[SG_STORE_NAME_MAX];
	uint8_t public_key[32];
	bool has_psk;
	uint8_t psk[32];	    /* wiped by sg_store_peer_clear */
	struct sg_store_prefix org; /* the org's network (IPv6 /48) */
	uint8_t addr[16];	    /* the peer's 6PN address, inside org */
	struct sg_store_prefix allowed_ips[SG_STORE_MAX_ALLOWED_IPS];
	unsigned n_allowed_ips; /* the /128 of addr first, as peer add makes it */
	bool has_endpoint;
	int ep_family; /* AF_INET or AF_INET6 */
	uint8_t ep_addr[16];
	uint16_t ep_port; /* host order */
	uint16_t keepalive_s;
	int64_t created; /* Unix seconds */
	int64_t expires; /* 0: never */
	int64_t revoked; /* 0: not revoked, else when */
};

struct sg_store;

enum sg_store_flags {
	SG_STORE_CREATE = 1u << 0,   /* make the file (mode 0600) when it is missing */
	SG_STORE_READONLY = 1u << 1, /* never write (the gateway's lookups) */
};

/*
 * Opens the store at uri: a file path, "sqlite:PATH", or a libpq URI
 * ("postgresql://[user@]host/db", "postgresql:///db?host=/run/dir"), whose
 * database must exist.  Creates the file or the schema with SG_STORE_CREATE
 * (PostgreSQL: whenever the database has no sixgate schema yet and the open
 * is not read-only), migrates an older schema to SG_STORE_SCHEMA_VERSION
 * (unless read-only: then an old schema is an error), refuses a file that
 * group or others may read, and a newer schema than this build knows.
 * busy_ms: how long an operation waits for another process's lock.
 * Returns 0 and *out, or a negative errno with the reason in err.
 */
int sg_store_open(struct sg_store **out, const char *uri, unsigned flags, unsigned busy_ms,
		  char *err, size_t errlen);

/* Closes the store.  NULL is a no-op. */
void sg_store_close(struct sg_store *s);

/* The last error's one line ("PATH: reason"). */
const char *sg_store_error(const struct sg_store *s);

/* The peer with this public key, or -ENOENT. */
int sg_store_get_by_key(struct sg_store *s, const uint8_t key[32], struct sg_store_peer *out);

/* The peer with this name, or -ENOENT. */
int sg_store_get_by_name(struct sg_store *s, const char *name, struct sg_store_peer *out);

/*
 * Adds p (p->id 0) or replaces the peer with id p->id.  Returns 0 (and sets
 * p->id), -EEXIST when the name, key or 6PN address is another peer's.
 */
int sg_store_put(struct sg_store *s, struct sg_store_peer *p);

/*
 * Calls fn for every peer, in name order, until it returns non-zero (which
 * is then returned).  The psk of the peers passed to fn is never filled.
 */
int sg_store_list(struct sg_store *s, int (*fn)(void *arg, const struct sg_store_peer *p),
		  void *arg);

/* Marks the peer revoked at time at (Unix seconds); -ENOENT when there is none. */
int sg_store_revoke(struct sg_store *s, const char *name, int64_t at);

/* Deletes the peer; -ENOENT when there is none. */
int sg_store_delete(struct sg_store *s, const char *name);

/*
 * The lowest host address of org (a /48 or longer, hosts from ::2 on, in
 * the fdaa:...:ff00::/80 range that peer add uses) that no peer has.
 */
int sg_store_next_addr(struct sg_store *s, const struct sg_store_prefix *org, uint8_t out[16]);

/*
 * A number that changes whenever any process commits a change to the store
 * (for the gateway's periodic check); negative errno on error.
 */
int64_t sg_store_version(struct sg_store *s);

/*
 * Calls fn for every change other handles committed since the last call, as
 * the backend reports them (PostgreSQL: the changed peer's public key, from
 * LISTEN/NOTIFY; key NULL: anything may have changed, as after a reconnect,
 * when notifications may have been missed).  Never waits.  Returns the
 * number of changes, 0 for a backend without notifications (SQLite: the
 * gateway relies on sg_store_version), or a negative errno (-ENOTCONN: the
 * database is unreachable; a later call reconnects).
 */
int sg_store_changes(struct sg_store *s, void (*fn)(void *arg, const uint8_t *key), void *arg);

/* uri as it may be shown: a PostgreSQL URI's password replaced by "***". */
void sg_store_redact(const char *uri, char *out, size_t len);

/* Whether the gateway may load p at now (Unix seconds): not revoked, not expired. */
bool sg_store_peer_usable(const struct sg_store_peer *p, int64_t now);

/* Wipes the peer's preshared key (and everything else). */
void sg_store_peer_clear(struct sg_store_peer *p);

/* --- for backends (store.c dispatches to them) --- */

struct sg_store_ops {
	int (*get_by_key)(struct sg_store *s, const uint8_t key[32], struct sg_store_peer *out);
	int (*get_by_name)(struct sg_store *s, const char *name, struct sg_store_peer *out);
	int (*put)(struct sg_store *s, struct sg_store_peer *p);
	int (*list)(struct sg_store *s, int (*fn)(void *, const struct sg_store_peer *), void *arg);
	int (*revoke)(struct sg_store *s, const char *name, int64_t at);
	int (*del)(struct sg_store *s, const char *name);
	int64_t (*version)(struct sg_store *s);
	/* NULL: the backend has no change notifications. */
	int (*changes)(struct sg_store *s, void (*fn)(void *, const uint8_t *), void *arg);
	void (*close)(struct sg_store *s);
};

struct sg_store {
	const struct sg_store_ops *ops;
	void *impl;
	char path[256];
	char err[SG_STORE_ERR_LEN];
};

/* The SQLite backend's open (store.c calls it for a path or "sqlite:"). */
int sg_store_sqlite_open(struct sg_store *s, const char *path, unsigned flags, unsigned busy_ms);

/* The PostgreSQL backend's open (for "postgres://" and "postgresql://"). */
int sg_store_pg_open(struct sg_store *s, const char *uri, unsigned flags, unsigned busy_ms);

/*
 * A peer's row as both backends store it: keys base64, addresses, prefixes
 * and the endpoint in their usual text forms (so that the sqlite3 CLI and
 * psql read it like the config file).  NULL: no preshared key, no endpoint.
 */
struct sg_store_row {
	int64_t id;
	const char *name, *public_key, *preshared_key, *org, *address, *allowed_ips, *endpoint;
	int64_t keepalive, created, expires, revoked;
};

/* The text of p's columns, in buffers of its own (wipe with sg_store_text_clear). */
struct sg_store_text {
	char key[45], psk[45], org[64], addr[48], ep[80];
	char ips[SG_STORE_MAX_ALLOWED_IPS * 64];
};

/* Parses a row into *p (its psk only when with_psk); -EINVAL when it does not parse. */
int sg_store_row_to_peer(struct sg_store *s, const struct sg_store_row *r, struct sg_store_peer *p,
			 bool with_psk);

/* Fills t from p (t->psk only when p->has_psk, t->ep only when p->has_endpoint). */
void sg_store_peer_to_text(const struct sg_store_peer *p, struct sg_store_text *t);

/* Sets s->err to "PATH: ..." and returns rc. */
int sg_store_fail(struct sg_store *s, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
