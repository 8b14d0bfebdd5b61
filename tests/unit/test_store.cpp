// SPDX-License-Identifier: MIT
// Unit tests for lib/store (SQLite backend): peers round-trip with every
// field, the schema and its migration from version 1, the file's mode, the
// next free 6PN address, and the clear errors of a missing, corrupt, foreign,
// newer or locked file.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <sqlite3.h>

extern "C" {
#include "lib/crypto/sg_crypto.h"
#include "lib/store/sg_store.h"
}

namespace
{

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

class Store : public ::testing::Test
{
      protected:
	std::string dir, path;
	char err[SG_STORE_ERR_LEN] = "";
	sg_store *s = nullptr;

	void SetUp() override
	{
		char tmpl[] = "/tmp/sg-ut-store-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		path = dir + "/peers.db";
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
	std::string sql1(const std::string &q)
	{
		sqlite3 *h;
		sqlite3_stmt *st;
		std::string out;
		EXPECT_EQ(sqlite3_open(path.c_str(), &h), SQLITE_OK);
		EXPECT_EQ(sqlite3_prepare_v2(h, q.c_str(), -1, &st, nullptr), SQLITE_OK) << q;
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			out = (const char *)sqlite3_column_text(st, 0);
		sqlite3_finalize(st);
		sqlite3_close(h);
		return out;
	}
};

TEST_F(Store, CreatesAPrivateWalFileAtTheCurrentSchema)
{
	ASSERT_EQ(open(), 0) << err;
	struct stat sb;
	ASSERT_EQ(stat(path.c_str(), &sb), 0);
	EXPECT_EQ(sb.st_mode & 0777, 0600u);
	EXPECT_EQ(sql1("PRAGMA user_version"), std::to_string(SG_STORE_SCHEMA_VERSION));
	EXPECT_EQ(sql1("PRAGMA journal_mode"), "wal");
}

TEST_F(Store, PeerRoundTripsWithEveryFieldAndReadsAsText)
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
	// What the sqlite3 CLI shows.
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

TEST_F(Store, DuplicatesRevokeDeleteAndList)
{
	ASSERT_EQ(open(), 0) << err;
	sg_store_peer a = peer("a", 2), b = peer("b", 3), out;
	ASSERT_EQ(sg_store_put(s, &a), 0);
	ASSERT_EQ(sg_store_put(s, &b), 0);
	sg_store_peer dup = peer("a", 4);
	EXPECT_EQ(sg_store_put(s, &dup), -EEXIST);
	EXPECT_NE(std::string(sg_store_error(s)).find("UNIQUE constraint failed: peers.name"),
		  std::string::npos)
		<< sg_store_error(s);
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

TEST_F(Store, NextAddressIsTheLowestFreeHostOfTheOrg)
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
TEST_F(Store, VersionOneIsMigratedAndKeepsItsPeers)
{
	{
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
				     "INSERT INTO peers VALUES (1, 'old', "
				     "'Ho4Ab+Bo8kN4YQrz3SthSUnaHAtPBP3XGn6BjxYE1zU=', NULL, "
				     "'fdaa:0:18::/48', 'fdaa:0:18:ff00::2', "
				     "'fdaa:0:18:ff00::2/128', NULL, 0, 1600000000);"
				     "PRAGMA user_version = 1;",
				     nullptr, nullptr, nullptr),
			SQLITE_OK);
		sqlite3_close(h);
	}
	EXPECT_EQ(open(SG_STORE_READONLY), -EINVAL);
	EXPECT_EQ(std::string(err), path + ": schema version 1, this sixgate needs 2 (run "
					   "sixgatectl once to migrate it)");
	ASSERT_EQ(open(0), 0) << err;
	EXPECT_EQ(sql1("PRAGMA user_version"), "2");
	sg_store_peer p;
	ASSERT_EQ(sg_store_get_by_name(s, "old", &p), 0) << sg_store_error(s);
	EXPECT_EQ(p.created, 1600000000);
	EXPECT_EQ(p.revoked, 0);
	EXPECT_EQ(p.expires, 0);
	EXPECT_TRUE(sg_store_peer_usable(&p, 1700000000));
}

TEST_F(Store, MissingCorruptForeignNewerAndOpenToOthersAreClearErrors)
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
// with one clear line; reads go on (WAL), and the change works once the
// lock is gone.
TEST_F(Store, LockedFileFailsChangesClearlyAndStillReads)
{
	ASSERT_EQ(open(), 0) << err;
	sg_store_peer a = peer("a", 2), b = peer("b", 3), out;
	ASSERT_EQ(sg_store_put(s, &a), 0);
	sqlite3 *h;
	ASSERT_EQ(sqlite3_open(path.c_str(), &h), SQLITE_OK);
	ASSERT_EQ(sqlite3_exec(h, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
	EXPECT_EQ(sg_store_put(s, &b), -EBUSY);
	EXPECT_EQ(std::string(sg_store_error(s)),
		  path + ": b: locked by another process (database is locked)");
	EXPECT_EQ(sg_store_get_by_key(s, a.public_key, &out), 0) << sg_store_error(s);
	ASSERT_EQ(sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
	sqlite3_close(h);
	EXPECT_EQ(sg_store_put(s, &b), 0) << sg_store_error(s);
}

TEST_F(Store, VersionChangesWhenAnotherConnectionCommits)
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

TEST(StoreUri, PostgresIsNotInThisBuild)
{
	sg_store *s;
	char err[SG_STORE_ERR_LEN];
	EXPECT_EQ(sg_store_open(&s, "postgres://db/peers", 0, 0, err, sizeof(err)), -ENOTSUP);
	EXPECT_STREQ(err, "postgres://db/peers: no PostgreSQL backend in this build");
}

} // namespace
