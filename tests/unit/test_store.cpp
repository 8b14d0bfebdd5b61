// SPDX-License-Identifier: MIT
// Unit tests for lib/store, on both backends where the behaviour is the
// backend's contract (SQLite, and PostgreSQL on a server of the test's own,
// tests/unit/sg_pg.h): peers round-trip with every field, duplicates,
// revoke/delete/list, the next free 6PN address, the migration from schema
// version 1, a newer schema refused, a lock held by another client, the
// version moving on another connection's commit.  SQLite alone: the file's
// mode and WAL, the clear errors of a missing, corrupt, foreign or
// world-readable file.  PostgreSQL alone: its schema and triggers, a foreign
// or unreachable database, NOTIFY of every change to every listening handle,
// a server stopped and restarted under an open handle, and one that stops
// answering (SIGSTOP) hung up on and replaced.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#ifdef SG_STORE_HAVE_PG
#include "tests/unit/sg_pg.h"
#endif

extern "C" {
#include "lib/crypto/sg_crypto.h"
#include "lib/store/sg_store.h"
}

namespace
{

enum class Backend { sqlite, pg };

int rm_entry(const char *path, const struct stat *, int, struct FTW *)
{
	return remove(path);
}

sg_store_prefix pfx(const char *s, unsigned len)
{
	sg_store_prefix p = {};
	p.family = strchr(s, ':') ? AF_INET6 : AF_INET;
	EXPECT_EQ(inet_pton(p.family, s, p.addr), 1) << s;
	p.len = (uint8_t)len;
	return p;
}

class StoreBase : public ::testing::Test
{
      protected:
	Backend be;
	std::string dir, path, db; // path: what sg_store_open is given
	char err[SG_STORE_ERR_LEN] = "";
	sg_store *s = nullptr;

	explicit StoreBase(Backend b) : be(b)
	{
	}
	bool pg() const
	{
		return be == Backend::pg;
	}
	void SetUp() override
	{
		char tmpl[] = "/tmp/sg-ut-store-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		path = dir + "/peers.db";
		if (!pg())
			return;
#ifdef SG_STORE_HAVE_PG
		sgpg::Server &srv = sgpg::server();
		if (srv.why_not.rfind("no PostgreSQL server binaries", 0) == 0)
			GTEST_SKIP() << srv.why_not;
		ASSERT_EQ(srv.why_not, "");
		path = srv.create_db();
		ASSERT_NE(path, "");
		db = path.substr(strlen("postgresql:///"),
				 path.find('?') - strlen("postgresql:///"));
#else
		GTEST_SKIP() << "built without libpq: no PostgreSQL backend";
#endif
	}
	void TearDown() override
	{
		sg_store_close(s);
		nftw(dir.c_str(), rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
	int open(unsigned flags = SG_STORE_CREATE, unsigned busy_ms = 100)
	{
		sg_store_close(s);
		s = nullptr;
		return sg_store_open(&s, path.c_str(), flags, busy_ms, err, sizeof(err));
	}
	sg_store_peer peer(const char *name, unsigned host)
	{
		sg_store_peer p = {};
		snprintf(p.name, sizeof(p.name), "%s", name);
		uint8_t priv[32];
		sg_x25519_keypair(p.public_key, priv);
		sg_wipe(priv, sizeof(priv));
		p.org = pfx("fdaa:0:18::", 48);
		char a[64];
		snprintf(a, sizeof(a), "fdaa:0:18:ff00::%x", host);
		p.addr[0] = 0;
		EXPECT_EQ(inet_pton(AF_INET6, a, p.addr), 1);
		p.allowed_ips[0] = pfx(a, 128);
		p.n_allowed_ips = 1;
		p.created = 1700000000;
		return p;
	}
	// The first column of the first row of q, as the backend's own client shows it.
	std::string sql1(const std::string &q)
	{
		std::string out;
		if (pg()) {
#ifdef SG_STORE_HAVE_PG
			EXPECT_EQ(sgpg::server().sql(q, db, &out), "") << q;
#endif
			return out;
		}
		sqlite3 *h;
		sqlite3_stmt *st;
		EXPECT_EQ(sqlite3_open(path.c_str(), &h), SQLITE_OK);
		EXPECT_EQ(sqlite3_prepare_v2(h, q.c_str(), -1, &st, nullptr), SQLITE_OK) << q;
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			out = (const char *)sqlite3_column_text(st, 0);
		sqlite3_finalize(st);
		sqlite3_close(h);
		return out;
	}
	std::string schema_version()
	{
		return sql1(pg() ? "SELECT schema_version FROM sixgate_meta"
				 : "PRAGMA user_version");
	}
	void set_schema_version(int v)
	{
		sql1((pg() ? "UPDATE sixgate_meta SET schema_version = "
			   : "PRAGMA user_version = ") +
		     std::to_string(v));
	}
};

class Store : public StoreBase, public ::testing::WithParamInterface<Backend>
{
      public:
	Store() : StoreBase(GetParam())
	{
	}
};

class SqliteStore : public StoreBase
{
      public:
	SqliteStore() : StoreBase(Backend::sqlite)
	{
	}
};

TEST_F(SqliteStore, CreatesAPrivateWalFileAtTheCurrentSchema)
{
	ASSERT_EQ(open(), 0) << err;
	struct stat sb;
	ASSERT_EQ(stat(path.c_str(), &sb), 0);
	EXPECT_EQ(sb.st_mode & 0777, 0600u);
	EXPECT_EQ(sql1("PRAGMA user_version"), std::to_string(SG_STORE_SCHEMA_VERSION));
	EXPECT_EQ(sql1("PRAGMA journal_mode"), "wal");
}

TEST_P(Store, PeerRoundTripsWithEveryFieldAndReadsAsText)
{
	ASSERT_EQ(open(), 0) << err;
	sg_store_peer p = peer("alice", 2), q;
	p.has_psk = true;
	sg_random(p.psk, 32);
	p.allowed_ips[1] = pfx("fdaa:0:18:ff00::100", 120);
	p.n_allowed_ips = 2;
	p.has_endpoint = true;
	p.ep_family = AF_INET6;
	inet_pton(AF_INET6, "fd00:1::9", p.ep_addr);
	p.ep_port = 51999;
	p.keepalive_s = 25;
	p.expires = 1800000000;
	ASSERT_EQ(sg_store_put(s, &p), 0) << sg_store_error(s);
	EXPECT_GT(p.id, 0);
	ASSERT_EQ(sg_store_get_by_key(s, p.public_key, &q), 0) << sg_store_error(s);
	EXPECT_STREQ(q.name, "alice");
	EXPECT_TRUE(q.has_psk);
	EXPECT_EQ(memcmp(q.psk, p.psk, 32), 0);
	EXPECT_EQ(memcmp(q.addr, p.addr, 16), 0);
	EXPECT_EQ(q.n_allowed_ips, 2u);
	EXPECT_EQ(q.allowed_ips[1].len, 120);
	EXPECT_EQ(memcmp(&q.org, &p.org, sizeof(q.org)), 0);
	EXPECT_TRUE(q.has_endpoint);
	EXPECT_EQ(q.ep_port, 51999);
	EXPECT_EQ(q.keepalive_s, 25);
	EXPECT_EQ(q.expires, 1800000000);
	EXPECT_EQ(q.revoked, 0);
	EXPECT_TRUE(sg_store_peer_usable(&q, 1700000001));
	EXPECT_FALSE(sg_store_peer_usable(&q, 1800000000)) << "expired";
	// What the sqlite3 CLI (or psql) shows.
	EXPECT_EQ(sql1("SELECT address FROM peers WHERE name = 'alice'"), "fdaa:0:18:ff00::2");
	EXPECT_EQ(sql1("SELECT allowed_ips FROM peers"),
		  "fdaa:0:18:ff00::2/128,fdaa:0:18:ff00::100/120");
	EXPECT_EQ(sql1("SELECT endpoint FROM peers"), "[fd00:1::9]:51999");
	char b64[45];
	sg_key_to_base64(b64, p.public_key);
	EXPECT_EQ(sql1("SELECT public_key FROM peers"), b64);
	sg_store_peer_clear(&p);
	sg_store_peer_clear(&q);
}

TEST_P(Store, DuplicatesRevokeDeleteAndList)
{
	ASSERT_EQ(open(), 0) << err;
	sg_store_peer a = peer("a", 2), b = peer("b", 3), out;
	ASSERT_EQ(sg_store_put(s, &a), 0);
	ASSERT_EQ(sg_store_put(s, &b), 0);
	sg_store_peer dup = peer("a", 4);
	EXPECT_EQ(sg_store_put(s, &dup), -EEXIST);
	const char *why = pg() ? "a: duplicate key value violates unique constraint "
				 "\"peers_name_key\" (Key (name)=(a) already exists.)"
			       : "UNIQUE constraint failed: peers.name";
	EXPECT_NE(std::string(sg_store_error(s)).find(why), std::string::npos) << sg_store_error(s);
	dup = peer("c", 4);
	memcpy(dup.public_key, a.public_key, 32);
	EXPECT_EQ(sg_store_put(s, &dup), -EEXIST);

	EXPECT_EQ(sg_store_revoke(s, "a", 1700000100), 0);
	ASSERT_EQ(sg_store_get_by_name(s, "a", &out), 0);
	EXPECT_EQ(out.revoked, 1700000100);
	EXPECT_FALSE(sg_store_peer_usable(&out, 1700000200));
	EXPECT_EQ(sg_store_revoke(s, "nobody", 1), -ENOENT);
	EXPECT_EQ(std::string(sg_store_error(s)), path + ": no peer named 'nobody'");

	std::vector<std::string> names;
	auto collect = [](void *arg, const sg_store_peer *p) {
		static_cast<std::vector<std::string> *>(arg)->push_back(p->name);
		return 0;
	};
	EXPECT_EQ(sg_store_list(s, collect, &names), 0);
	EXPECT_EQ(names, (std::vector<std::string>{ "a", "b" }));
	EXPECT_EQ(sg_store_delete(s, "a"), 0);
	EXPECT_EQ(sg_store_get_by_key(s, a.public_key, &out), -ENOENT);
	EXPECT_EQ(sg_store_delete(s, "a"), -ENOENT);
}

TEST_P(Store, NextAddressIsTheLowestFreeHostOfTheOrg)
{
	ASSERT_EQ(open(), 0) << err;
	sg_store_prefix org = pfx("fdaa:0:18::", 48);
	uint8_t a[16];
	char t[64];
	ASSERT_EQ(sg_store_next_addr(s, &org, a), 0);
	EXPECT_STREQ(inet_ntop(AF_INET6, a, t, sizeof(t)), "fdaa:0:18:ff00::2");
	for (unsigned h : { 2u, 3u, 5u }) {
		sg_store_peer p = peer(("p" + std::to_string(h)).c_str(), h);
		ASSERT_EQ(sg_store_put(s, &p), 0);
	}
	ASSERT_EQ(sg_store_next_addr(s, &org, a), 0);
	EXPECT_STREQ(inet_ntop(AF_INET6, a, t, sizeof(t)), "fdaa:0:18:ff00::4");
	sg_store_prefix other = pfx("fdaa:0:29::", 48);
	ASSERT_EQ(sg_store_next_addr(s, &other, a), 0);
	EXPECT_STREQ(inet_ntop(AF_INET6, a, t, sizeof(t)), "fdaa:0:29:ff00::2");
}

// A store written by the first schema (no expires, no revoked) is migrated
// on open, its peers kept; a read-only open of it says what to do.
TEST_P(Store, VersionOneIsMigratedAndKeepsItsPeers)
{
	if (pg()) {
		// The first schema as its migration made it: today's, less version 2's.
		ASSERT_EQ(open(), 0) << err;
		sg_store_close(s);
		s = nullptr;
		sql1("DROP INDEX peers_org; ALTER TABLE peers DROP COLUMN expires, DROP COLUMN "
		     "revoked; UPDATE sixgate_meta SET schema_version = 1");
	} else {
		std::ofstream(path).close();
		chmod(path.c_str(), 0600);
		sqlite3 *h;
		ASSERT_EQ(sqlite3_open(path.c_str(), &h), SQLITE_OK);
		ASSERT_EQ(
			sqlite3_exec(h,
				     "CREATE TABLE peers (id INTEGER PRIMARY KEY, name TEXT NOT "
				     "NULL UNIQUE, public_key TEXT NOT NULL UNIQUE, preshared_key "
				     "TEXT, org TEXT NOT NULL, address TEXT NOT NULL UNIQUE, "
				     "allowed_ips TEXT NOT NULL, endpoint TEXT, keepalive INTEGER "
				     "NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
				     "PRAGMA user_version = 1;",
				     nullptr, nullptr, nullptr),
			SQLITE_OK);
		sqlite3_close(h);
	}
	sql1("INSERT INTO peers (name, public_key, preshared_key, org, address, allowed_ips, "
	     "endpoint, keepalive, created) VALUES ('old', "
	     "'Ho4Ab+Bo8kN4YQrz3SthSUnaHAtPBP3XGn6BjxYE1zU=', NULL, 'fdaa:0:18::/48', "
	     "'fdaa:0:18:ff00::2', 'fdaa:0:18:ff00::2/128', NULL, 0, 1600000000)");
	EXPECT_EQ(schema_version(), "1");
	EXPECT_EQ(open(SG_STORE_READONLY), -EINVAL);
	EXPECT_EQ(std::string(err), path + ": schema version 1, this sixgate needs 2 (run "
					   "sixgatectl once to migrate it)");
	ASSERT_EQ(open(0), 0) << err;
	EXPECT_EQ(schema_version(), "2");
	sg_store_peer p;
	ASSERT_EQ(sg_store_get_by_name(s, "old", &p), 0) << sg_store_error(s);
	EXPECT_EQ(p.created, 1600000000);
	EXPECT_EQ(p.revoked, 0);
	EXPECT_EQ(p.expires, 0);
	EXPECT_TRUE(sg_store_peer_usable(&p, 1700000000));
	EXPECT_EQ(sg_store_revoke(s, "old", 1700000000), 0) << sg_store_error(s);
}

TEST_P(Store, NewerSchemaIsRefused)
{
	ASSERT_EQ(open(), 0) << err;
	sg_store_close(s);
	s = nullptr;
	set_schema_version(99);
	EXPECT_EQ(open(0), -EINVAL);
	EXPECT_EQ(std::string(err), path + ": schema version 99 is newer than this sixgate's (2)");
}

TEST_F(SqliteStore, MissingCorruptForeignNewerAndOpenToOthersAreClearErrors)
{
	EXPECT_EQ(open(0), -ENOENT);
	EXPECT_EQ(std::string(err), path + ": cannot open: No such file or directory");

	std::ofstream(path) << std::string(4096, 'x');
	chmod(path.c_str(), 0600);
	EXPECT_EQ(open(0), -EINVAL);
	EXPECT_EQ(std::string(err),
		  path + ": schema: not a sixgate store or corrupt (file is not a database)");

	chmod(path.c_str(), 0644);
	EXPECT_EQ(open(0), -EACCES);
	EXPECT_EQ(std::string(err), path + ": group or others may read it (it holds preshared "
					   "keys: chmod 600)");
	unlink(path.c_str());

	std::ofstream(path).close();
	chmod(path.c_str(), 0600);
	sql1("CREATE TABLE other (x)");
	EXPECT_EQ(open(0), -EINVAL);
	EXPECT_EQ(std::string(err),
		  path + ": not a sixgate store (an SQLite database with other tables)");
	unlink(path.c_str());

	ASSERT_EQ(open(), 0) << err;
	sg_store_close(s);
	s = nullptr;
	sql1("PRAGMA user_version = 99");
	EXPECT_EQ(open(0), -EINVAL);
	EXPECT_EQ(std::string(err), path + ": schema version 99 is newer than this sixgate's (2)");
}

// Another process holds the write lock: a change waits busy_ms, then fails
// with one clear line; reads go on (WAL; PostgreSQL's MVCC), and the change
// works once the lock is gone.
TEST_P(Store, LockedStoreFailsChangesClearlyAndStillReads)
{
	ASSERT_EQ(open(), 0) << err;
	sg_store_peer a = peer("a", 2), b = peer("b", 3), out;
	ASSERT_EQ(sg_store_put(s, &a), 0);
	std::function<void()> unlock;
	if (pg()) {
#ifdef SG_STORE_HAVE_PG
		std::string ci = "host=" + sgpg::server().dir + " dbname=" + db + " user=sg";
		PGconn *h = PQconnectdb(ci.c_str());
		ASSERT_EQ(PQstatus(h), CONNECTION_OK);
		PGresult *r = PQexec(h, "BEGIN; LOCK TABLE peers IN EXCLUSIVE MODE");
		ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
		PQclear(r);
		unlock = [h]() {
			PQclear(PQexec(h, "COMMIT"));
			PQfinish(h);
		};
#endif
	} else {
		sqlite3 *h;
		ASSERT_EQ(sqlite3_open(path.c_str(), &h), SQLITE_OK);
		ASSERT_EQ(sqlite3_exec(h, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
		unlock = [h]() {
			sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr);
			sqlite3_close(h);
		};
	}
	EXPECT_EQ(sg_store_put(s, &b), -EBUSY);
	EXPECT_EQ(
		std::string(sg_store_error(s)),
		path + ": b: locked by another process (" +
			(pg() ? "canceling statement due to lock timeout" : "database is locked") +
			")");
	EXPECT_EQ(sg_store_get_by_key(s, a.public_key, &out), 0) << sg_store_error(s);
	unlock();
	EXPECT_EQ(sg_store_put(s, &b), 0) << sg_store_error(s);
}

TEST_P(Store, VersionChangesWhenAnotherConnectionCommits)
{
	ASSERT_EQ(open(), 0) << err;
	int64_t v0 = sg_store_version(s);
	sg_store *other;
	ASSERT_EQ(sg_store_open(&other, path.c_str(), 0, 100, err, sizeof(err)), 0) << err;
	sg_store_peer a = peer("a", 2);
	ASSERT_EQ(sg_store_put(other, &a), 0);
	EXPECT_NE(sg_store_version(s), v0);
	sg_store_close(other);
}

INSTANTIATE_TEST_SUITE_P(Backends, Store, ::testing::Values(Backend::sqlite, Backend::pg),
			 [](const ::testing::TestParamInfo<Backend> &i) {
				 return std::string(i.param == Backend::pg ? "postgres" : "sqlite");
			 });

#ifdef SG_STORE_HAVE_PG

class PgStore : public StoreBase
{
      public:
	PgStore() : StoreBase(Backend::pg)
	{
	}

      protected:
	// The keys another handle's changes named, collected within deadline_ms.
	static std::vector<std::string> changes(sg_store *h, size_t want, int deadline_ms = 1000)
	{
		std::vector<std::string> got;
		auto collect = [](void *arg, const uint8_t *key) {
			char b64[45] = "*";
			if (key != nullptr)
				sg_key_to_base64(b64, key);
			static_cast<std::vector<std::string> *>(arg)->push_back(b64);
		};
		for (int t = 0; t < deadline_ms / 10 && got.size() < want; t++) {
			EXPECT_GE(sg_store_changes(h, collect, &got), 0) << sg_store_error(h);
			if (got.size() < want)
				std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
		return got;
	}
	static std::string b64(const uint8_t *key)
	{
		char b[45];
		sg_key_to_base64(b, key);
		return b;
	}
};

TEST_F(PgStore, CreatesTheSchemaWithItsTriggers)
{
	EXPECT_EQ(open(SG_STORE_READONLY), -EINVAL) << "a read-only open creates nothing";
	EXPECT_EQ(std::string(err), path + ": schema version 0, this sixgate needs 2 (run "
					   "sixgatectl once to migrate it)");
	ASSERT_EQ(open(0), 0) << err;
	EXPECT_EQ(schema_version(), "2");
	EXPECT_EQ(sql1("SELECT count(*) FROM pg_trigger WHERE tgname IN ('peers_notify', "
		       "'peers_version')"),
		  "2");
	// Two handles opening at once: one migrates, the other finds it done.
	ASSERT_EQ(open(SG_STORE_READONLY), 0) << err;
	sg_store_peer a = peer("a", 2);
	EXPECT_EQ(sg_store_put(s, &a), -EACCES) << "a read-only handle never writes";
	EXPECT_NE(std::string(sg_store_error(s)).find("read-only transaction"), std::string::npos)
		<< sg_store_error(s);
}

TEST_F(PgStore, ForeignUnreachableAndMissingAreClearErrors)
{
	sql1("CREATE TABLE peers (x int)");
	EXPECT_EQ(open(0), -EINVAL);
	EXPECT_EQ(std::string(err), path + ": not a sixgate store (a peers table without "
					   "sixgate_meta)");
	std::string nowhere = "postgresql:///x?host=" + dir + "&user=sg";
	EXPECT_EQ(sg_store_open(&s, nowhere.c_str(), 0, 100, err, sizeof(err)), -ENOTCONN);
	EXPECT_EQ(std::string(err),
		  nowhere +
			  ": database unreachable: connection to server on socket "
			  "\"" +
			  dir +
			  "/.s.PGSQL.5432\" failed: No such file "
			  "or directory Is the server running locally and "
			  "accepting connections on that socket?");
	std::string missing =
		sgpg::server().uri("nope").replace(strlen("postgresql://"), 0, "sg:s3cret@");
	EXPECT_EQ(sg_store_open(&s, missing.c_str(), 0, 100, err, sizeof(err)), -ENOTCONN);
	EXPECT_EQ(std::string(err).find("s3cret"), std::string::npos) << err;
	EXPECT_NE(std::string(err).find("postgresql://sg:***@/nope?host="), std::string::npos)
		<< err;
	EXPECT_NE(std::string(err).find("database \"nope\" does not exist"), std::string::npos)
		<< err;
}

// Every committed change, through any handle or by hand in SQL, reaches
// every handle that listens (two gateways), with the peer's key; a
// TRUNCATE says "everything" (*).
TEST_F(PgStore, NotifyDeliversEveryChangeToEveryListener)
{
	ASSERT_EQ(open(0), 0) << err;
	sg_store *gw_a, *gw_b;
	ASSERT_EQ(sg_store_open(&gw_a, path.c_str(), SG_STORE_READONLY, 100, err, sizeof(err)), 0)
		<< err;
	ASSERT_EQ(sg_store_open(&gw_b, path.c_str(), SG_STORE_READONLY, 100, err, sizeof(err)), 0)
		<< err;
	EXPECT_EQ(changes(gw_a, 1, 50), std::vector<std::string>{}) << "nothing yet";
	EXPECT_EQ(changes(gw_b, 1, 50), std::vector<std::string>{});
	sg_store_peer a = peer("a", 2), b = peer("b", 3);
	ASSERT_EQ(sg_store_put(s, &a), 0) << sg_store_error(s);
	ASSERT_EQ(sg_store_put(s, &b), 0) << sg_store_error(s);
	ASSERT_EQ(sg_store_revoke(s, "a", 1700000000), 0);
	ASSERT_EQ(sg_store_delete(s, "b"), 0);
	std::vector<std::string> want = { b64(a.public_key), b64(b.public_key), b64(a.public_key),
					  b64(b.public_key) };
	auto t0 = std::chrono::steady_clock::now();
	EXPECT_EQ(changes(gw_a, 4), want);
	EXPECT_EQ(changes(gw_b, 4), want);
	EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
	// A key changed by hand: the old key and the new one.
	sg_store_peer c = peer("c", 4);
	sql1("UPDATE peers SET public_key = '" + b64(c.public_key) + "' WHERE name = 'a'");
	EXPECT_EQ(changes(gw_a, 2),
		  (std::vector<std::string>{ b64(a.public_key), b64(c.public_key) }));
	sql1("TRUNCATE peers");
	EXPECT_EQ(changes(gw_a, 1), std::vector<std::string>{ "*" });
	EXPECT_EQ(changes(gw_b, 3).back(), "*");
	sg_store_close(gw_a);
	sg_store_close(gw_b);
}

// The server stops under an open handle: every call fails at once with
// -ENOTCONN and one line; once it is back, the next calls reconnect (at most
// one attempt a second), report "anything may have changed" (*), and
// notifications flow again.
TEST_F(PgStore, ServerStoppedAndRestartedUnderAnOpenHandle)
{
	ASSERT_EQ(open(0), 0) << err;
	sg_store_peer a = peer("a", 2), out;
	ASSERT_EQ(sg_store_put(s, &a), 0) << sg_store_error(s);
	sg_store *gw;
	ASSERT_EQ(sg_store_open(&gw, path.c_str(), SG_STORE_READONLY, 100, err, sizeof(err)), 0)
		<< err;
	EXPECT_EQ(changes(gw, 1, 50).size(), 0u);
	sgpg::server().stop();
	auto t0 = std::chrono::steady_clock::now();
	EXPECT_EQ(sg_store_get_by_key(gw, a.public_key, &out), -ENOTCONN);
	EXPECT_NE(std::string(sg_store_error(gw)).find(path + ": "), std::string::npos);
	EXPECT_NE(std::string(sg_store_error(gw)).find("database unreachable: "), std::string::npos)
		<< sg_store_error(gw);
	EXPECT_EQ(sg_store_changes(
			  gw, [](void *, const uint8_t *) {}, nullptr),
		  -ENOTCONN);
	EXPECT_LT(sg_store_version(gw), 0);
	EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1))
		<< "no call waits for the server";
	ASSERT_TRUE(sgpg::server().start());
	int rc = -1;
	for (int t = 0; t < 50 && rc != 0; t++) {
		rc = sg_store_get_by_key(gw, a.public_key, &out);
		if (rc != 0)
			std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
	EXPECT_EQ(rc, 0) << sg_store_error(gw);
	EXPECT_EQ(changes(gw, 1), std::vector<std::string>{ "*" });
	// The writer's handle reconnects too (a read first: a write is never sent twice).
	EXPECT_EQ(sg_store_get_by_name(s, "a", &out), 0) << sg_store_error(s);
	ASSERT_EQ(sg_store_revoke(s, "a", 1700000000), 0) << sg_store_error(s);
	EXPECT_EQ(changes(gw, 1), std::vector<std::string>{ b64(a.public_key) });
	sg_store_close(gw);
}

// The server process of the handle's connection stops (SIGSTOP: its socket
// stays open, nothing answers): the lookup gives up after busy_ms + 5 s of
// silence, drops that connection and is answered on a new one; the next
// sg_store_changes says "anything may have changed" (*).
TEST_F(PgStore, SilentServerIsHungUpOnAndReplaced)
{
	ASSERT_EQ(open(0), 0) << err;
	sg_store_peer a = peer("a", 2), out;
	ASSERT_EQ(sg_store_put(s, &a), 0) << sg_store_error(s);
	sg_store_close(s);
	s = nullptr;
	sg_store *gw;
	ASSERT_EQ(sg_store_open(&gw, path.c_str(), SG_STORE_READONLY, 100, err, sizeof(err)), 0)
		<< err;
	EXPECT_EQ(changes(gw, 1, 50).size(), 0u);
	std::string pid;
	ASSERT_EQ(sgpg::server().sql("SELECT pid FROM pg_stat_activity WHERE application_name = "
				     "'sixgate' AND datname = '" +
					     db + "'",
				     "postgres", &pid),
		  "");
	ASSERT_NE(pid, "");
	ASSERT_EQ(kill(std::stoi(pid), SIGSTOP), 0);
	auto t0 = std::chrono::steady_clock::now();
	int rc = sg_store_get_by_key(gw, a.public_key, &out);
	auto took = std::chrono::steady_clock::now() - t0;
	kill(std::stoi(pid), SIGCONT);
	EXPECT_EQ(rc, 0) << sg_store_error(gw);
	EXPECT_GE(took, std::chrono::milliseconds(5100));
	EXPECT_LT(took, std::chrono::seconds(15));
	EXPECT_EQ(changes(gw, 1), std::vector<std::string>{ "*" });
	sg_store_close(gw);
}

TEST(StoreUri, PasswordsAreNeverShown)
{
	char out[256];
	sg_store_redact("postgresql://gw:s3cret@db.example/peers", out, sizeof(out));
	EXPECT_STREQ(out, "postgresql://gw:***@db.example/peers");
	sg_store_redact("postgres:///peers?host=/run/pg&password=s3cret&user=gw", out, sizeof(out));
	EXPECT_STREQ(out, "postgres:///peers?host=/run/pg&password=***&user=gw");
	sg_store_redact("postgresql://gw@db/peers", out, sizeof(out));
	EXPECT_STREQ(out, "postgresql://gw@db/peers");
	sg_store_redact("/var/lib/sixgate/peers.db", out, sizeof(out));
	EXPECT_STREQ(out, "/var/lib/sixgate/peers.db");
}

#else

TEST(StoreUri, PostgresIsNotInThisBuild)
{
	sg_store *s;
	char err[SG_STORE_ERR_LEN];
	EXPECT_EQ(sg_store_open(&s, "postgres://db/peers", 0, 0, err, sizeof(err)), -ENOTSUP);
	EXPECT_STREQ(err, "postgres://db/peers: no PostgreSQL backend in this build (no libpq)");
}

#endif

} // namespace
