/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend of the peer store: one file (mode 0600) in WAL mode, so
 * that the gateway's lookups and sixgatectl's changes never block each
 * other, with a schema versioned in PRAGMA user_version and migrated step by
 * step.  Keys and addresses are stored as text (base64, the usual notation),
 * so that `sqlite3 FILE 'select * from peers'` reads like the config file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/store/sg_store.h"

/* Migration n brings a store from user_version n to n + 1. */
static const char *const migrations[SG_STORE_SCHEMA_VERSION] = {
	/* 0 -> 1: the peers. */
	"CREATE TABLE peers ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" public_key TEXT NOT NULL UNIQUE," /* base64 */
	" preshared_key TEXT,"		    /* base64, or NULL */
	" org TEXT NOT NULL,"		    /* the org network, fdaa:0:18::/48 */
	" address TEXT NOT NULL UNIQUE,"    /* the peer's 6PN address */
	" allowed_ips TEXT NOT NULL,"	    /* comma list of CIDRs */
	" endpoint TEXT,"		    /* [v6]:port or v4:port, or NULL */
	" keepalive INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL);",
	/* 1 -> 2: expiry and revocation. */
	"ALTER TABLE peers ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE peers ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX peers_org ON peers(org);",
};

#define COLUMNS                                                                                 \
	"id, name, public_key, preshared_key, org, address, allowed_ips, endpoint, keepalive, " \
	"created, expires, revoked"

struct db {
	sqlite3 *h;
	sqlite3_stmt *by_key, *by_name;
};

static struct db *db_of(struct sg_store *s)
{
	return s->impl;
}

/* The errno of an SQLite result, and the message for it. */
static int fail_sql(struct sg_store *s, int code, const char *what)
{
	struct db *d = db_of(s);
	const char *msg = d != NULL && d->h != NULL ? sqlite3_errmsg(d->h) : sqlite3_errstr(code);

	switch (code & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return sg_store_fail(s, -EBUSY, "%s: locked by another process (%s)", what, msg);
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return sg_store_fail(s, -EINVAL, "%s: not a sixgate store or corrupt (%s)", what,
				     msg);
	case SQLITE_CONSTRAINT:
		return sg_store_fail(s, -EEXIST, "%s: %s", what, msg);
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_CANTOPEN:
		return sg_store_fail(s, -EACCES, "%s: %s", what, msg);
	default:
		return sg_store_fail(s, -EIO, "%s: %s", what, msg);
	}
}

static int exec(struct sg_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db_of(s)->h, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail_sql(s, rc, what);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

static const char *col_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) != SQLITE_NULL ? col_text(st, i) : NULL;
}

/* The peer of the current row; with_psk: fill its preshared key. */
static int read_row(struct sg_store *s, sqlite3_stmt *st, struct sg_store_peer *p, bool with_psk)
{
	const struct sg_store_row r = {
		.id = sqlite3_column_int64(st, 0),
		.name = col_text(st, 1),
		.public_key = col_text(st, 2),
		.preshared_key = col_null(st, 3),
		.org = col_text(st, 4),
		.address = col_text(st, 5),
		.allowed_ips = col_text(st, 6),
		.endpoint = col_null(st, 7),
		.keepalive = sqlite3_column_int(st, 8),
		.created = sqlite3_column_int64(st, 9),
		.expires = sqlite3_column_int64(st, 10),
		.revoked = sqlite3_column_int64(st, 11),
	};

	return sg_store_row_to_peer(s, &r, p, with_psk);
}

/* Runs a prepared lookup of one row. */
static int get_one(struct sg_store *s, sqlite3_stmt *st, struct sg_store_peer *out,
		   const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		rc = read_row(s, st, out, true);
	else if (rc == SQLITE_DONE)
		rc = sg_store_fail(s, -ENOENT, "no peer %s", what);
	else
		rc = fail_sql(s, rc, "lookup");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int sq_get_by_key(struct sg_store *s, const uint8_t key[32], struct sg_store_peer *out)
{
	char b64[45];

	sg_key_to_base64(b64, key);
	char what[64];

	snprintf(what, sizeof(what), "with public key %s", b64);
	sqlite3_bind_text(db_of(s)->by_key, 1, b64, -1, SQLITE_TRANSIENT);
	return get_one(s, db_of(s)->by_key, out, what);
}

static int sq_get_by_name(struct sg_store *s, const char *name, struct sg_store_peer *out)
{
	char what[SG_STORE_NAME_MAX + 16];

	snprintf(what, sizeof(what), "named '%s'", name);
	sqlite3_bind_text(db_of(s)->by_name, 1, name, -1, SQLITE_TRANSIENT);
	return get_one(s, db_of(s)->by_name, out, what);
}

static int sq_put(struct sg_store *s, struct sg_store_peer *p)
{
	static const char *const ins =
		"INSERT INTO peers (name, public_key, preshared_key, org, address, allowed_ips, "
		"endpoint, keepalive, created, expires, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		"?7, ?8, ?9, ?10, ?11)";
	static const char *const upd =
		"UPDATE peers SET name = ?1, public_key = ?2, preshared_key = ?3, org = ?4, "
		"address = ?5, allowed_ips = ?6, endpoint = ?7, keepalive = ?8, created = ?9, "
		"expires = ?10, revoked = ?11 WHERE id = ?12";
	struct sg_store_text t;
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db_of(s)->h, p->id ? upd : ins, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail_sql(s, rc, "put");
	sg_store_peer_to_text(p, &t);
	sqlite3_bind_text(st, 1, p->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, t.key, -1, SQLITE_TRANSIENT);
	if (p->has_psk)
		sqlite3_bind_text(st, 3, t.psk, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, t.org, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, t.addr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, t.ips, -1, SQLITE_TRANSIENT);
	if (p->has_endpoint)
		sqlite3_bind_text(st, 7, t.ep, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 8, p->keepalive_s);
	sqlite3_bind_int64(st, 9, p->created);
	sqlite3_bind_int64(st, 10, p->expires);
	sqlite3_bind_int64(st, 11, p->revoked);
	sg_wipe(&t, sizeof(t));
	if (p->id)
		sqlite3_bind_int64(st, 12, p->id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail_sql(s, rc, p->name);
	if (p->id == 0)
		p->id = sqlite3_last_insert_rowid(db_of(s)->h);
	return 0;
}

static int sq_list(struct sg_store *s, int (*fn)(void *, const struct sg_store_peer *), void *arg)
{
	struct sg_store_peer p;
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db_of(s)->h, "SELECT " COLUMNS " FROM peers ORDER BY name", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return fail_sql(s, rc, "list");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int r = read_row(s, st, &p, false);

		if (r == 0)
			r = fn(arg, &p);
		if (r != 0) {
			sqlite3_finalize(st);
			return r;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail_sql(s, rc, "list");
}

/* Runs an UPDATE or DELETE of one peer by name. */
static int change(struct sg_store *s, const char *sql, const char *name, int64_t at)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db_of(s)->h, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail_sql(s, rc, name);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (at != 0)
		sqlite3_bind_int64(st, 2, at);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail_sql(s, rc, name);
	if (sqlite3_changes(db_of(s)->h) == 0)
		return sg_store_fail(s, -ENOENT, "no peer named '%s'", name);
	return 0;
}

static int sq_revoke(struct sg_store *s, const char *name, int64_t at)
{
	return change(s, "UPDATE peers SET revoked = ?2 WHERE name = ?1", name, at ? at : 1);
}

static int sq_delete(struct sg_store *s, const char *name)
{
	return change(s, "DELETE FROM peers WHERE name = ?1", name, 0);
}

static int64_t sq_version(struct sg_store *s)
{
	sqlite3_stmt *st;
	int64_t v;
	int rc = sqlite3_prepare_v2(db_of(s)->h, "PRAGMA data_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail_sql(s, rc, "data_version");
	rc = sqlite3_step(st);
	v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : fail_sql(s, rc, "data_version");
	sqlite3_finalize(st);
	return v;
}

static void sq_close(struct sg_store *s)
{
	struct db *d = db_of(s);

	if (d == NULL)
		return;
	sqlite3_finalize(d->by_key);
	sqlite3_finalize(d->by_name);
	sqlite3_close(d->h);
	free(d);
	s->impl = NULL;
}

static const struct sg_store_ops sqlite_ops = {
	.get_by_key = sq_get_by_key,
	.get_by_name = sq_get_by_name,
	.put = sq_put,
	.list = sq_list,
	.revoke = sq_revoke,
	.del = sq_delete,
	.version = sq_version,
	.close = sq_close,
};

static int user_version(struct sg_store *s, int *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db_of(s)->h, "PRAGMA user_version", -1, &st, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : fail_sql(s, rc, "schema");
}

/* Brings the schema from version v to SG_STORE_SCHEMA_VERSION in one transaction. */
static int migrate(struct sg_store *s, int v)
{
	char sql[64];
	int rc = exec(s, "BEGIN IMMEDIATE", "migration");

	for (; rc == 0 && v < SG_STORE_SCHEMA_VERSION; v++) {
		rc = exec(s, migrations[v], "migration");
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (rc == 0)
			rc = exec(s, sql, "migration");
	}
	if (rc == 0)
		return exec(s, "COMMIT", "migration");
	sqlite3_exec(db_of(s)->h, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int check_file(struct sg_store *s, const char *path, unsigned flags)
{
	struct stat sb;
	int fd;

	if (stat(path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode))
			return sg_store_fail(s, -EINVAL, "not a regular file");
		if (sb.st_mode & 077)
			return sg_store_fail(s, -EACCES,
					     "group or others may read it (it holds preshared "
					     "keys: chmod 600)");
		return 0;
	}
	if (errno != ENOENT || !(flags & SG_STORE_CREATE))
		return sg_store_fail(s, -errno, "cannot open: %s", strerror(errno));
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return sg_store_fail(s, -errno, "cannot create: %s", strerror(errno));
	close(fd);
	return 0;
}

int sg_store_sqlite_open(struct sg_store *s, const char *path, unsigned flags, unsigned busy_ms)
{
	struct db *d;
	int rc, v = 0;

	rc = check_file(s, path, flags);
	if (rc != 0)
		return rc;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return sg_store_fail(s, -ENOMEM, "out of memory");
	s->impl = d;
	s->ops = &sqlite_ops;
	rc = sqlite3_open_v2(path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return fail_sql(s, rc, "open");
	sqlite3_busy_timeout(d->h, (int)busy_ms);
	rc = user_version(s, &v);
	if (rc != 0)
		return rc;
	if (v > SG_STORE_SCHEMA_VERSION)
		return sg_store_fail(s, -EINVAL,
				     "schema version %d is newer than this sixgate's (%d)", v,
				     SG_STORE_SCHEMA_VERSION);
	if (v < SG_STORE_SCHEMA_VERSION && (flags & SG_STORE_READONLY))
		return sg_store_fail(
			s, -EINVAL,
			"schema version %d, this sixgate needs %d (run sixgatectl once "
			"to migrate it)",
			v, SG_STORE_SCHEMA_VERSION);
	if (v == 0) {
		sqlite3_stmt *st;
		bool empty;

		/* A database of someone else's is not a store to add tables to. */
		rc = sqlite3_prepare_v2(d->h, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
		if (rc != SQLITE_OK)
			return fail_sql(s, rc, "schema");
		rc = sqlite3_step(st);
		empty = rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW)
			return fail_sql(s, rc, "schema");
		if (!empty)
			return sg_store_fail(s, -EINVAL,
					     "not a sixgate store (an SQLite database with other "
					     "tables)");
	}
	if (!(flags & SG_STORE_READONLY)) {
		rc = exec(s, "PRAGMA journal_mode = WAL", "WAL mode");
		if (rc == 0 && v < SG_STORE_SCHEMA_VERSION)
			rc = migrate(s, v);
		if (rc != 0)
			return rc;
	}
	rc = sqlite3_prepare_v2(d->h, "SELECT " COLUMNS " FROM peers WHERE public_key = ?1", -1,
				&d->by_key, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->h, "SELECT " COLUMNS " FROM peers WHERE name = ?1", -1,
					&d->by_name, NULL);
	return rc == SQLITE_OK ? 0 : fail_sql(s, rc, "schema");
}
