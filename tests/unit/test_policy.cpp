// Unit tests for lib/policy: the parser (good files, and bad ones with the
// line they fail on), precedence, and the rte_acl backend against the linear
// reference on hand-written cases and on random keys.  rte_acl allocates in
// DPDK memory, so EAL comes up without hugepages in a file prefix of our own.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <rte_eal.h>

#include "tests/unit/sg_eal_gtest.h"

extern "C" {
#include "lib/config/sg_config.h"
#include "lib/policy/sg_policy.h"
#include "lib/store/sg_store.h"
}

namespace
{

::testing::Environment *const eal_env =
	::testing::AddGlobalTestEnvironment(new sgut::Eal("policy", false));

// A configuration with two orgs: peer c1 and vm1 in fdaa:0:18::/48, peer c2
// (two allowed IPs) and vm2 in fdaa:0:29::/48.
struct Cfg {
	sg_config cfg = {};
	sg_config_peer peers[2] = {};
	sg_config_vm vms[2] = {};
	sg_config_prefix c1_ips[1] = {}, c2_ips[3] = {};

	static sg_config_prefix pf(const char *a, unsigned len)
	{
		sg_config_prefix p = {};
		p.family = strchr(a, ':') ? AF_INET6 : AF_INET;
		p.len = (uint8_t)len;
		inet_pton(p.family, a, p.addr);
		return p;
	}
	Cfg()
	{
		c1_ips[0] = pf("fdaa:0:18:ff00::1", 128);
		c2_ips[0] = pf("fdaa:0:29:ff00::2", 128);
		c2_ips[1] = pf("198.18.5.0", 24); // IPv4: not a policy prefix
		c2_ips[2] = pf("fdaa:0:29:ff01::", 64);
		strcpy(peers[0].name, "c1");
		peers[0].allowed_ips = c1_ips;
		peers[0].n_allowed_ips = 1;
		peers[0].network = pf("fdaa:0:18::", 48);
		strcpy(peers[1].name, "c2");
		peers[1].allowed_ips = c2_ips;
		peers[1].n_allowed_ips = 3;
		peers[1].network = pf("fdaa:0:29::", 48);
		strcpy(vms[0].name, "vm1");
		vms[0].prefix = pf("fdaa:0:18:0:a7b:0:1:0", 112);
		vms[0].network = pf("fdaa:0:18::", 48);
		strcpy(vms[1].name, "vm2");
		vms[1].prefix = pf("fdaa:0:29:0:b00:0:1:0", 112);
		vms[1].network = pf("fdaa:0:29::", 48);
		cfg.peers = peers;
		cfg.n_peers = 2;
		cfg.vms = vms;
		cfg.n_vms = 2;
	}
};

struct Policy {
	sg_policy p = {};
	int rc = 0;
	char err[SG_POLICY_ERR_LEN] = "";
	Policy(const std::string &text, const sg_config *cfg = nullptr)
	{
		rc = sg_policy_parse(&p, "t.policy", text.data(), text.size(), cfg, err,
				     sizeof(err));
	}
	~Policy()
	{
		sg_policy_free(&p);
	}
};

// An IPv6 packet: header and 4 bytes of ports (when TCP/UDP).
struct Pkt {
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	unsigned dir;
	bool same;
};

sg_policy_key key_of(const Pkt &k)
{
	uint8_t ip[48] = {};
	sg_policy_key key;

	ip[0] = 0x60;
	ip[5] = 8; // payload length 8
	ip[6] = k.proto;
	ip[7] = 64;
	inet_pton(AF_INET6, k.src, ip + 8);
	inet_pton(AF_INET6, k.dst, ip + 24);
	ip[40] = (uint8_t)(k.sport >> 8);
	ip[41] = (uint8_t)k.sport;
	ip[42] = (uint8_t)(k.dport >> 8);
	ip[43] = (uint8_t)k.dport;
	sg_policy_key_set(&key, ip, sizeof(ip), k.dir, k.same);
	return key;
}

// The rule that decides k, by the reference and by rte_acl (which must agree).
size_t decide(const sg_policy &p, const Pkt &k)
{
	sg_policy_key key = key_of(k);
	size_t ref = sg_policy_match(&p, &key);
	sg_policy_acl *acl = nullptr;
	char err[SG_POLICY_ERR_LEN];
	const uint8_t *keys[1] = { (const uint8_t *)&key };
	uint32_t res = 0;

	EXPECT_EQ(sg_policy_acl_build(&acl, &p, -1, err, sizeof(err)), 0) << err;
	if (acl == nullptr)
		return ref;
	sg_policy_acl_classify(acl, keys, &res, 1);
	sg_policy_acl_free(acl);
	EXPECT_EQ(res, ref) << k.src << " -> " << k.dst;
	return ref;
}

const char *const C1 = "fdaa:0:18:ff00::1", *const VM1 = "fdaa:0:18:0:a7b:0:1:5";
const char *const C2 = "fdaa:0:29:ff00::2", *const VM2 = "fdaa:0:29:0:b00:0:1:5";

TEST(PolicyParse, EmptyFileIsTheBaseRule)
{
	Policy p("# nothing but comments\n\n   \t\n");
	ASSERT_EQ(p.rc, 0) << p.err;
	ASSERT_EQ(p.p.n_rules, 1u);
	EXPECT_TRUE(p.p.rules[0].same_org);
	EXPECT_EQ(p.p.rules[0].line, 0u);
	EXPECT_EQ(p.p.rules[0].action, SG_POLICY_ALLOW);
}

TEST(PolicyParse, DefaultIsOrgIsolation)
{
	sg_policy p = {};
	ASSERT_EQ(sg_policy_default(&p), 0);
	// Within the org: allowed both ways, any protocol.
	EXPECT_TRUE(sg_policy_allows(
		&p, decide(p, { C1, VM1, IPPROTO_TCP, 1, 2, SG_POLICY_DIR_IN, true })));
	EXPECT_TRUE(sg_policy_allows(
		&p, decide(p, { VM1, C1, IPPROTO_ICMPV6, 0, 0, SG_POLICY_DIR_OUT, true })));
	// Across orgs: the default, deny.
	EXPECT_EQ(decide(p, { C1, VM2, IPPROTO_UDP, 1, 2, SG_POLICY_DIR_IN, false }), 1u);
	EXPECT_EQ(decide(p, { VM2, C1, IPPROTO_UDP, 1, 2, SG_POLICY_DIR_OUT, false }), 1u);
	sg_policy_free(&p);
}

TEST(PolicyParse, GoodRulesExpand)
{
	Cfg c;
	Policy p("deny in tcp from peer c1 to vm vm1 port 22   # no ssh from the tunnel\n"
		 "grant udp from fdaa:0:18::/48 to fdaa:0:29::/48 port 53\n"
		 "allow out icmpv6 from vm vm2 to peer c2\n"
		 "allow tcp from any to any sport 0-1023 port 1024-65535\n",
		 &c.cfg);
	ASSERT_EQ(p.rc, 0) << p.err;
	// 1 + 2 (grant and replies) + 2 (c2 has two IPv6 prefixes) + 1, the base rule.
	ASSERT_EQ(p.p.n_rules, 7u);
	const sg_policy_rule *r = p.p.rules;
	EXPECT_EQ(r[0].line, 1u);
	EXPECT_EQ(r[0].action, SG_POLICY_DENY);
	EXPECT_EQ(r[0].dirs, SG_POLICY_DIR_IN);
	EXPECT_EQ(r[0].proto, IPPROTO_TCP);
	EXPECT_EQ(r[0].src_len, 128);
	EXPECT_EQ(r[0].dst_len, 112);
	EXPECT_EQ(r[0].dport_lo, 22);
	EXPECT_EQ(r[0].dport_hi, 22);
	EXPECT_EQ(r[0].sport_lo, 0);
	EXPECT_EQ(r[0].sport_hi, 0xffff);
	// The grant's replies: the other way, sport 53, both directions.
	EXPECT_EQ(r[1].line, 2u);
	EXPECT_EQ(r[2].line, 2u);
	EXPECT_EQ(r[2].src[5], 0x29);
	EXPECT_EQ(r[2].dst[5], 0x18);
	EXPECT_EQ(r[2].sport_lo, 53);
	EXPECT_EQ(r[2].dport_lo, 0);
	EXPECT_EQ(r[2].dport_hi, 0xffff);
	EXPECT_EQ(r[2].dirs, SG_POLICY_DIR_ANY);
	EXPECT_EQ(r[3].dst_len, 128);
	EXPECT_EQ(r[4].dst_len, 64);
	EXPECT_EQ(r[5].proto, IPPROTO_TCP);
	EXPECT_EQ(r[5].sport_hi, 1023);
	EXPECT_EQ(r[5].dport_lo, 1024);
	EXPECT_TRUE(r[6].same_org);
}

struct BadCase {
	const char *text;
	const char *error; // the whole message
};

TEST(PolicyParse, BadFilesNameTheLine)
{
	Cfg c;
	const BadCase cases[] = {
		{ "\n\npermit from any to any\n",
		  "t.policy:3: a rule starts with allow, deny or grant, not 'permit'" },
		{ "allow tcp any to any\n", "t.policy:1: expected 'from' after 'tcp'" },
		{ "allow from any any\n", "t.policy:1: expected 'to' after the source" },
		{ "allow from any to\n",
		  "t.policy:1: missing destination (a prefix, 'any', 'peer NAME' or 'vm NAME')" },
		{ "# ok\nallow from fd00::/8 to fdaa:0:18::1/48\n",
		  "t.policy:2: 'fdaa:0:18::1/48' has host bits set (the prefix is "
		  "fdaa:0:18::/48)" },
		{ "allow from fdaa::/129 to any\n",
		  "t.policy:1: bad prefix length '/129' (0 to 128)" },
		{ "allow from 10.0.0.0/8 to any\n",
		  "t.policy:1: '10.0.0.0' is not an IPv6 address" },
		{ "allow from fdaa:: to any\n",
		  "t.policy:1: 'fdaa::' is not an IPv6 prefix (ADDRESS/LENGTH), 'any', 'peer NAME' "
		  "or 'vm NAME'" },
		{ "allow from peer c9 to any\n", "t.policy:1: no peer 'c9' in the configuration" },
		{ "allow from any to vm vm9\n", "t.policy:1: no vm 'vm9' in the configuration" },
		{ "allow from peer\n", "t.policy:1: 'peer' needs a name" },
		{ "allow icmpv6 from any to any port 1\n",
		  "t.policy:1: ports need 'tcp' or 'udp'" },
		{ "allow from any to any port 80\n", "t.policy:1: ports need 'tcp' or 'udp'" },
		{ "allow tcp from any to any port 90-80\n",
		  "t.policy:1: port range '90-80' ends before it starts" },
		{ "allow tcp from any to any port 65536\n",
		  "t.policy:1: port must be a port or a range PORT-PORT (0 to 65535), not "
		  "'65536'" },
		{ "allow tcp from any to any sport x\n",
		  "t.policy:1: sport must be a port or a range PORT-PORT (0 to 65535), not 'x'" },
		{ "allow tcp from any to any port\n",
		  "t.policy:1: 'port' needs a port or a range" },
		{ "allow tcp from any to any dport 1\n",
		  "t.policy:1: unexpected 'dport' (sport RANGE or port RANGE may follow)" },
		{ "allow\n", "t.policy:1: expected 'from' after 'allow'" },
		{ "allow in out from any to any\n", "t.policy:1: expected 'from' after 'in'" },
	};
	for (const auto &bc : cases) {
		Policy p(bc.text, &c.cfg);
		EXPECT_EQ(p.rc, -EINVAL) << bc.text;
		EXPECT_STREQ(p.err, bc.error) << bc.text;
		EXPECT_EQ(p.p.rules, nullptr) << bc.text;
		EXPECT_EQ(p.p.n_rules, 0u) << bc.text;
	}
}

TEST(PolicyParse, NamesNeedAConfig)
{
	Policy p("allow from peer c1 to any\n");
	EXPECT_STREQ(p.err, "t.policy:1: no peer 'c1' in the configuration");
}

// Peer names beyond the configuration's: the peer store's (a real SQLite
// file), looked up at compile time by name.
int rm_tree(const char *path, const struct stat *, int, struct FTW *)
{
	return remove(path);
}

class PolicyStore : public ::testing::Test
{
      protected:
	std::string dir, path;
	sg_store *s = nullptr;
	char err[SG_STORE_ERR_LEN] = "";
	Cfg c;

	void SetUp() override
	{
		char tmpl[] = "/tmp/sg-ut-polstore-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		path = dir + "/peers.db";
		ASSERT_EQ(sg_store_open(&s, path.c_str(), SG_STORE_CREATE, 100, err, sizeof(err)),
			  0)
			<< err;
	}
	void TearDown() override
	{
		sg_store_close(s);
		nftw(dir.c_str(), rm_tree, 8, FTW_DEPTH | FTW_PHYS);
	}
	static sg_store_prefix spf(const char *a, unsigned len)
	{
		sg_config_prefix p = Cfg::pf(a, len);
		sg_store_prefix q = {};
		q.family = p.family;
		q.len = p.len;
		memcpy(q.addr, p.addr, 16);
		return q;
	}
	// A store peer of org 1: its /128 (host), then extra allowed IPs.
	void put(const char *name, unsigned host, std::vector<sg_store_prefix> extra = {},
		 int64_t revoked = 0)
	{
		sg_store_peer p = {}, old = {};
		char a[64];
		snprintf(p.name, sizeof(p.name), "%s", name);
		memset(p.public_key, (int)host, sizeof(p.public_key));
		p.org = spf("fdaa:0:18::", 48);
		snprintf(a, sizeof(a), "fdaa:0:18:ff00::%x", host);
		inet_pton(AF_INET6, a, p.addr);
		p.allowed_ips[0] = spf(a, 128);
		p.n_allowed_ips = 1;
		for (const auto &e : extra)
			p.allowed_ips[p.n_allowed_ips++] = e;
		p.created = 1700000000;
		p.revoked = revoked;
		if (sg_store_get_by_name(s, name, &old) == 0)
			p.id = old.id;
		ASSERT_EQ(sg_store_put(s, &p), 0) << sg_store_error(s);
	}
	// Parses text with the config's names and the store's.
	int parse(const std::string &text, sg_policy *out, sg_policy_names *names, char *e,
		  bool missing_ok = false)
	{
		static sg_policy_store ps;
		ps = {};
		ps.uri = path.c_str();
		*names = {};
		names->cfg = &c.cfg;
		names->peer = sg_policy_store_peer;
		names->arg = &ps;
		names->missing_ok = missing_ok;
		int rc = sg_policy_parse_names(out, "t.policy", text.data(), text.size(), names, e,
					       SG_POLICY_ERR_LEN);
		sg_policy_store_close(&ps);
		return rc;
	}
};

TEST_F(PolicyStore, AStorePeerResolvesToItsIpv6AllowedIps)
{
	put("s1", 7, { spf("fdaa:0:18:ff01::", 64), spf("198.18.7.0", 24) });
	sg_policy p = {};
	sg_policy_names names;
	char e[SG_POLICY_ERR_LEN] = "";
	ASSERT_EQ(parse("grant icmpv6 from peer s1 to vm vm2\n", &p, &names, e), 0) << e;
	// 2 IPv6 prefixes (the IPv4 one is no policy prefix) x the grant's 2 halves + base.
	ASSERT_EQ(p.n_rules, 5u);
	EXPECT_EQ(names.store_refs, 1u);
	EXPECT_NE(names.store_hash, 0u);
	char a[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, p.rules[0].src, a, sizeof(a));
	EXPECT_EQ(std::string(a) + "/" + std::to_string(p.rules[0].src_len),
		  "fdaa:0:18:ff00::7/128");
	inet_ntop(AF_INET6, p.rules[1].src, a, sizeof(a));
	EXPECT_EQ(std::string(a) + "/" + std::to_string(p.rules[1].src_len), "fdaa:0:18:ff01::/64");
	EXPECT_EQ(p.rules[0].line, 1u);
	EXPECT_EQ(p.rules[0].dirs, SG_POLICY_DIR_ANY);

	// The linear reference and rte_acl agree: s1 reaches vm2, its neighbour does not.
	struct sg_policy_acl *acl = nullptr;
	ASSERT_EQ(sg_policy_acl_build(&acl, &p, -1, e, sizeof(e)), 0) << e;
	const Pkt pkts[] = {
		{ "fdaa:0:18:ff00::7", "fdaa:0:29:0:b00:0:1:2", IPPROTO_ICMPV6, 0, 0,
		  SG_POLICY_DIR_IN, false },
		{ "fdaa:0:18:ff01::99", "fdaa:0:29:0:b00:0:1:2", IPPROTO_ICMPV6, 0, 0,
		  SG_POLICY_DIR_IN, false },
		{ "fdaa:0:29:0:b00:0:1:2", "fdaa:0:18:ff00::7", IPPROTO_ICMPV6, 0, 0,
		  SG_POLICY_DIR_OUT, false },
		{ "fdaa:0:18:ff00::8", "fdaa:0:29:0:b00:0:1:2", IPPROTO_ICMPV6, 0, 0,
		  SG_POLICY_DIR_IN, false },
		{ "fdaa:0:18:ff00::7", "fdaa:0:29:0:b00:0:1:2", IPPROTO_UDP, 1, 2, SG_POLICY_DIR_IN,
		  false },
	};
	const size_t want[] = { 0, 1, 2, 5, 5 };
	for (size_t i = 0; i < sizeof(pkts) / sizeof(pkts[0]); i++) {
		sg_policy_key k = key_of(pkts[i]);
		const uint8_t *kp = (const uint8_t *)&k;
		uint32_t r;
		sg_policy_acl_classify(acl, &kp, &r, 1);
		EXPECT_EQ(sg_policy_match(&p, &k), want[i]) << i;
		EXPECT_EQ(r, want[i]) << i;
	}
	sg_policy_acl_free(acl);
	sg_policy_free(&p);
}

TEST_F(PolicyStore, TheConfigsPeerWinsOverTheStoresOfTheSameName)
{
	put("c1", 9);
	sg_policy p = {};
	sg_policy_names names;
	char e[SG_POLICY_ERR_LEN] = "";
	ASSERT_EQ(parse("allow from peer c1 to any\n", &p, &names, e), 0) << e;
	ASSERT_EQ(p.n_rules, 2u);
	EXPECT_EQ(names.store_refs, 0u);
	char a[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, p.rules[0].src, a, sizeof(a));
	EXPECT_STREQ(a, "fdaa:0:18:ff00::1"); // the [peer c1] section's, not ::9
	sg_policy_free(&p);
}

TEST_F(PolicyStore, APeerInNeitherIsAnErrorWithItsLine)
{
	put("s1", 7);
	sg_policy p = {};
	sg_policy_names names;
	char e[SG_POLICY_ERR_LEN] = "";
	EXPECT_EQ(parse("allow from peer s1 to any\n\ndeny tcp from any to peer nobody port 22\n",
			&p, &names, e),
		  -EINVAL);
	EXPECT_STREQ(e, "t.policy:3: no peer 'nobody' (neither in the config nor in the store)");
	EXPECT_EQ(p.rules, nullptr);
	EXPECT_EQ(p.n_rules, 0u);
}

TEST_F(PolicyStore, AfterAStoreChangeAMissingPeerMatchesNothing)
{
	sg_policy p = {};
	sg_policy_names names;
	char e[SG_POLICY_ERR_LEN] = "";
	ASSERT_EQ(parse("allow from peer gone to any\nallow from peer c1 to any\n", &p, &names, e,
			true),
		  0)
		<< e;
	EXPECT_EQ(p.n_rules, 2u); // c1's rule and the base rule
	EXPECT_EQ(p.rules[0].line, 2u);
	EXPECT_STREQ(names.missing, "t.policy:1: peer 'gone' is no longer in the store");
	sg_policy_free(&p);
}

TEST_F(PolicyStore, ARevokedPeerMatchesNothing)
{
	put("s1", 7, {}, 1700000001);
	sg_policy p = {};
	sg_policy_names names;
	char e[SG_POLICY_ERR_LEN] = "";
	ASSERT_EQ(parse("allow from peer s1 to any\n", &p, &names, e), 0) << e;
	EXPECT_EQ(p.n_rules, 1u); // the base rule alone
	EXPECT_EQ(names.store_refs, 1u);
	sg_policy_free(&p);
}

// What the gateway compares after a store change: the hash of the resolution.
TEST_F(PolicyStore, TheHashFollowsTheAllowedIps)
{
	const std::string text = "grant from peer s1 to vm vm1\n";
	sg_policy p = {};
	sg_policy_names names;
	char e[SG_POLICY_ERR_LEN] = "";
	put("s1", 7);
	ASSERT_EQ(parse(text, &p, &names, e), 0) << e;
	uint64_t h1 = names.store_hash;
	sg_policy_free(&p);
	ASSERT_EQ(parse(text, &p, &names, e), 0) << e;
	EXPECT_EQ(names.store_hash, h1);
	sg_policy_free(&p);
	put("s1", 7, { spf("fdaa:0:18:ff00::99", 128) });
	ASSERT_EQ(parse(text, &p, &names, e), 0) << e;
	EXPECT_NE(names.store_hash, h1);
	EXPECT_EQ(p.n_rules, 5u);
	sg_policy_free(&p);
	ASSERT_EQ(sg_store_delete(s, "s1"), 0);
	ASSERT_EQ(parse(text, &p, &names, e, true), 0) << e;
	EXPECT_NE(names.store_hash, h1);
	EXPECT_EQ(p.n_rules, 1u);
	sg_policy_free(&p);
}

TEST_F(PolicyStore, AStoreThatCannotBeOpenedIsAnError)
{
	path = dir + "/missing.db";
	sg_policy p = {};
	sg_policy_names names;
	char e[SG_POLICY_ERR_LEN] = "";
	EXPECT_LT(parse("allow from peer s1 to any\n", &p, &names, e), 0);
	EXPECT_EQ(std::string(e).rfind("t.policy:1: peer 's1': " + path + ":", 0), 0u) << e;
}

TEST(PolicyParse, LongLinesAndNulBytes)
{
	std::string text = "allow from any to any\n# " + std::string(5000, 'x') + "\n";
	Policy p(text);
	EXPECT_STREQ(p.err, "t.policy:2: line longer than 4095 bytes");
	std::string nul("allow from any to any\0\n", 23);
	Policy q(nul);
	EXPECT_STREQ(q.err, "t.policy:1: NUL byte in the file");
}

TEST(PolicyParse, LoadReportsAMissingFile)
{
	sg_policy p = {};
	char err[SG_POLICY_ERR_LEN];
	EXPECT_EQ(sg_policy_load(&p, "/nonexistent/x.policy", nullptr, err, sizeof(err)), -EINVAL);
	EXPECT_STREQ(err, "/nonexistent/x.policy: No such file or directory");
}

TEST(PolicyParse, ExampleFileParses)
{
	Cfg c;
	sg_policy p = {};
	char err[SG_POLICY_ERR_LEN];
	ASSERT_EQ(
		sg_policy_load(&p, SG_SOURCE_ROOT "/config/demo.policy", &c.cfg, err, sizeof(err)),
		0)
		<< err;
	EXPECT_GT(p.n_rules, 1u);
	sg_policy_free(&p);
}

// First match wins; the base rule comes after every line of the file.
TEST(PolicyPrecedence, FirstMatchThenBaseRuleThenDeny)
{
	Cfg c;
	Policy p("deny in tcp from peer c1 to vm vm1 port 22\n"	      // 0
		 "allow in tcp from peer c1 to vm vm1 port 20-30\n"   // 1
		 "grant tcp from vm vm1 to fdaa:0:29::/48 port 443\n" // 2, 3
		 "deny from fdaa:0:18::/48 to fdaa:0:29::/64\n"	      // 4
		 "allow from fdaa:0:18::/48 to fdaa:0:29::/48\n",     // 5
		 &c.cfg);
	ASSERT_EQ(p.rc, 0) << p.err;
	ASSERT_EQ(p.p.n_rules, 7u);
	const auto &P = p.p;
	// The deny on line 1 shadows the allow of line 2 for port 22 only.
	EXPECT_EQ(decide(P, { C1, VM1, IPPROTO_TCP, 999, 22, SG_POLICY_DIR_IN, true }), 0u);
	EXPECT_EQ(decide(P, { C1, VM1, IPPROTO_TCP, 999, 23, SG_POLICY_DIR_IN, true }), 1u);
	// Out of the allow's range: the base rule (same org) decides.
	EXPECT_EQ(decide(P, { C1, VM1, IPPROTO_TCP, 999, 31, SG_POLICY_DIR_IN, true }), 6u);
	// Direction matters: the same 5-tuple going out is not line 1's.
	EXPECT_EQ(decide(P, { C1, VM1, IPPROTO_TCP, 999, 22, SG_POLICY_DIR_OUT, true }), 6u);
	// The grant and its replies, ahead of the deny of line 4.
	EXPECT_EQ(decide(P, { VM1, VM2, IPPROTO_TCP, 40000, 443, SG_POLICY_DIR_OUT, false }), 2u);
	EXPECT_EQ(decide(P, { VM2, VM1, IPPROTO_TCP, 443, 40000, SG_POLICY_DIR_IN, false }), 3u);
	EXPECT_EQ(decide(P, { VM2, VM1, IPPROTO_UDP, 443, 40000, SG_POLICY_DIR_IN, false }), 7u);
	// fdaa:0:29:0:... is in the /64 of line 4; ff00:: is not.
	EXPECT_EQ(decide(P, { C1, VM2, IPPROTO_UDP, 1, 1, SG_POLICY_DIR_IN, false }), 4u);
	EXPECT_EQ(decide(P, { C1, C2, IPPROTO_UDP, 1, 1, SG_POLICY_DIR_IN, false }), 5u);
	EXPECT_FALSE(sg_policy_allows(&P, 4));
	EXPECT_TRUE(sg_policy_allows(&P, 5));
	// Nothing matches the other way: default deny.
	EXPECT_EQ(decide(P, { C2, VM1, IPPROTO_UDP, 1, 1, SG_POLICY_DIR_IN, false }), 7u);
	EXPECT_FALSE(sg_policy_allows(&P, 7));
}

TEST(PolicyPrecedence, PortEdgesAndProtocols)
{
	Policy p("allow udp from any to any sport 100-200 port 1000-2000\n"
		 "allow icmpv6 from fdaa:0:18::/48 to any\n");
	ASSERT_EQ(p.rc, 0) << p.err;
	const auto &P = p.p;
	struct {
		uint8_t proto;
		uint16_t sport, dport;
		size_t rule;
	} cases[] = {
		{ IPPROTO_UDP, 100, 1000, 0 }, { IPPROTO_UDP, 200, 2000, 0 },
		{ IPPROTO_UDP, 99, 1000, 3 },  { IPPROTO_UDP, 201, 1000, 3 },
		{ IPPROTO_UDP, 100, 999, 3 },  { IPPROTO_UDP, 100, 2001, 3 },
		{ IPPROTO_TCP, 150, 1500, 3 }, { IPPROTO_ICMPV6, 150, 1500, 1 },
		{ 47, 150, 1500, 3 },
	};
	for (const auto &c : cases)
		EXPECT_EQ(
			decide(P, { C1, VM2, c.proto, c.sport, c.dport, SG_POLICY_DIR_OUT, false }),
			c.rule)
			<< int(c.proto) << " " << c.sport << " " << c.dport;
}

TEST(PolicyKey, PortsOnlyForTcpAndUdpWithFourBytes)
{
	uint8_t ip[44] = { 0x60 };
	sg_policy_key k;

	ip[6] = IPPROTO_TCP;
	ip[5] = 4;
	ip[40] = 0x12, ip[41] = 0x34, ip[42] = 0x56, ip[43] = 0x78;
	sg_policy_key_set(&k, ip, 44, SG_POLICY_DIR_OUT, true);
	EXPECT_EQ(ntohs(k.sport), 0x1234);
	EXPECT_EQ(ntohs(k.dport), 0x5678);
	EXPECT_EQ(ntohl(k.meta), SG_POLICY_META_OUT | SG_POLICY_META_SAME_ORG);
	ip[5] = 3;
	sg_policy_key_set(&k, ip, 44, SG_POLICY_DIR_IN, false);
	EXPECT_EQ(k.sport, 0);
	EXPECT_EQ(k.meta, 0u);
	ip[5] = 4;
	ip[6] = IPPROTO_ICMPV6;
	sg_policy_key_set(&k, ip, 44, SG_POLICY_DIR_IN, false);
	EXPECT_EQ(k.dport, 0);
}

// rte_acl against the linear scan on random rules and keys drawn near them.
TEST(PolicyAcl, AgreesWithTheReferenceOnRandomRules)
{
	std::mt19937 rng(9);
	std::string text;
	const char *protos[] = { "tcp", "udp", "icmpv6", "any" };
	for (int i = 0; i < 300; i++) {
		char line[256];
		unsigned p = rng() % 4, a = rng() % 3;
		int n = snprintf(line, sizeof(line),
				 "%s %s %s from fdaa:0:%x::/48 to fdaa:0:%x::/%u",
				 a == 0 ? "deny" : "allow",
				 rng() % 3 == 0 ? "in"
				 : rng() % 2	? "out"
						: "",
				 protos[p], (unsigned)(rng() % 8), (unsigned)(rng() % 8),
				 (unsigned)(48 + 16 * (rng() % 2)));
		if (p < 2 && rng() % 2) {
			unsigned lo = rng() % 60000;
			snprintf(line + n, sizeof(line) - (size_t)n, " port %u-%u", lo,
				 lo + (unsigned)(rng() % 5000));
		}
		text += std::string(line) + "\n";
	}
	Policy p(text);
	ASSERT_EQ(p.rc, 0) << p.err;
	sg_policy_acl *acl = nullptr;
	char err[SG_POLICY_ERR_LEN];
	ASSERT_EQ(sg_policy_acl_build(&acl, &p.p, -1, err, sizeof(err)), 0) << err;
	std::vector<sg_policy_key> keys(20000);
	for (auto &k : keys) {
		char src[64], dst[64];
		snprintf(src, sizeof(src), "fdaa:0:%x::%x", (unsigned)(rng() % 9),
			 (unsigned)(rng() % 3));
		snprintf(dst, sizeof(dst), "fdaa:0:%x:%x::1", (unsigned)(rng() % 9),
			 (unsigned)(rng() % 2));
		const uint8_t pr[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, 0 };
		k = key_of({ src, dst, pr[rng() % 4], (uint16_t)rng(), (uint16_t)rng(),
			     rng() % 2 ? SG_POLICY_DIR_IN : SG_POLICY_DIR_OUT, rng() % 2 == 0 });
	}
	std::vector<const uint8_t *> ptrs;
	for (auto &k : keys)
		ptrs.push_back((const uint8_t *)&k);
	std::vector<uint32_t> res(keys.size());
	for (size_t i = 0; i < keys.size(); i += 256)
		sg_policy_acl_classify(acl, ptrs.data() + i, res.data() + i,
				       (unsigned)std::min<size_t>(256, keys.size() - i));
	size_t allowed = 0;
	for (size_t i = 0; i < keys.size(); i++) {
		size_t ref = sg_policy_match(&p.p, &keys[i]);
		ASSERT_EQ(res[i], ref) << "key " << i;
		allowed += sg_policy_allows(&p.p, ref);
	}
	// Both verdicts occur, so the comparison means something.
	EXPECT_GT(allowed, 1000u);
	EXPECT_LT(allowed, keys.size() - 1000);
	EXPECT_NE(std::string(sg_policy_acl_alg(acl)), "");
	sg_policy_acl_free(acl);
}

// The verdict cache: every result through it equals the reference, on keys
// drawn from a small set (so that they repeat and collide in the 4,096
// slots); the repeats hit; a context built from another policy (a reload)
// is never answered from the first one's entries; bursts of every size.
TEST(PolicyAcl, CachedClassifyAgreesAndFollowsAReload)
{
	std::mt19937 rng(13);
	auto rules = [&](unsigned seed) {
		std::mt19937 r(seed);
		std::string text;
		for (int i = 0; i < 200; i++) {
			char line[160];
			snprintf(line, sizeof(line),
				 "%s tcp from fdaa:0:%x::/48 to fdaa:0:%x::/48 port %u-%u\n",
				 r() % 2 ? "allow" : "deny", (unsigned)(r() % 8),
				 (unsigned)(r() % 8), (unsigned)(r() % 100),
				 (unsigned)(100 + r() % 100));
			text += line;
		}
		return text;
	};
	Policy p1(rules(1)), p2(rules(2));
	ASSERT_EQ(p1.rc, 0) << p1.err;
	ASSERT_EQ(p2.rc, 0) << p2.err;
	sg_policy_acl *a1 = nullptr, *a2 = nullptr;
	char err[SG_POLICY_ERR_LEN];
	ASSERT_EQ(sg_policy_acl_build(&a1, &p1.p, -1, err, sizeof(err)), 0) << err;
	ASSERT_EQ(sg_policy_acl_build(&a2, &p2.p, -1, err, sizeof(err)), 0) << err;
	std::vector<sg_policy_key> pool(1500);
	for (auto &k : pool) {
		char src[64], dst[64];
		snprintf(src, sizeof(src), "fdaa:0:%x::%x", (unsigned)(rng() % 8),
			 (unsigned)(rng() % 16));
		snprintf(dst, sizeof(dst), "fdaa:0:%x::1", (unsigned)(rng() % 8));
		k = key_of({ src, dst, IPPROTO_TCP, 40000, (uint16_t)(rng() % 220),
			     SG_POLICY_DIR_IN, false });
	}
	// Its entries are cache-line aligned (as rte_zmalloc gives them to the workers).
	auto *cache = static_cast<sg_policy_cache *>(aligned_alloc(64, sizeof(sg_policy_cache)));
	ASSERT_NE(cache, nullptr);
	memset(cache, 0, sizeof(*cache));
	size_t checked = 0, differ = 0;
	for (int round = 0; round < 60; round++) {
		const sg_policy_acl *a = round % 10 < 5 ? a1 : a2;
		const sg_policy &p = round % 10 < 5 ? p1.p : p2.p;
		unsigned n = 1 + (unsigned)(rng() % 256);
		std::vector<const uint8_t *> keys(n);
		for (auto &k : keys)
			k = (const uint8_t *)&pool[rng() % pool.size()];
		std::vector<uint32_t> res(n, ~0u);
		sg_policy_acl_classify_cached(cache, a, keys.data(), res.data(), n);
		for (unsigned i = 0; i < n; i++) {
			const sg_policy_key *k = (const sg_policy_key *)keys[i];
			ASSERT_EQ(res[i], sg_policy_match(&p, k))
				<< "round " << round << " key " << i;
			differ += sg_policy_match(&p1.p, k) != sg_policy_match(&p2.p, k);
			checked++;
		}
	}
	EXPECT_GT(cache->hits, 1000u) << "repeated keys are answered from the cache";
	EXPECT_GT(cache->misses, 1000u);
	EXPECT_EQ(cache->hits + cache->misses, checked);
	EXPECT_GT(differ, 500u) << "the two policies disagree often enough to catch a stale entry";
	free(cache);
	sg_policy_acl_free(a1);
	sg_policy_acl_free(a2);
}

// No policy file: the base rule alone, which the workers' path decides by
// the key's org bit without a trie walk; its verdicts are the context's and
// the reference's on every kind of key (both org bits, both directions, each
// protocol), and a one-rule file that is not the base rule still walks.
TEST(PolicyAcl, BaseRuleAloneIsDecidedByTheOrgBit)
{
	std::mt19937 rng(17);
	for (const char *text : { "", "allow any from fdaa:0:18::/48 to fdaa:0:29::/48\n" }) {
		Policy p(text);
		ASSERT_EQ(p.rc, 0) << p.err;
		sg_policy_acl *acl = nullptr;
		char err[SG_POLICY_ERR_LEN];
		ASSERT_EQ(sg_policy_acl_build(&acl, &p.p, -1, err, sizeof(err)), 0) << err;
		auto *cache =
			static_cast<sg_policy_cache *>(aligned_alloc(64, sizeof(sg_policy_cache)));
		ASSERT_NE(cache, nullptr);
		memset(cache, 0, sizeof(*cache));
		std::vector<sg_policy_key> keys(4096);
		const uint8_t pr[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, 0 };
		for (auto &k : keys)
			k = key_of({ rng() % 2 ? C1 : C2, rng() % 2 ? VM1 : VM2, pr[rng() % 4],
				     (uint16_t)rng(), (uint16_t)rng(),
				     rng() % 2 ? SG_POLICY_DIR_IN : SG_POLICY_DIR_OUT,
				     rng() % 2 == 0 });
		std::vector<const uint8_t *> ptrs;
		for (auto &k : keys)
			ptrs.push_back((const uint8_t *)&k);
		std::vector<uint32_t> got(keys.size()), walk(keys.size());
		size_t allowed = 0;
		for (size_t i = 0; i < keys.size(); i += 32) {
			sg_policy_acl_classify_cached(cache, acl, ptrs.data() + i, got.data() + i,
						      32);
			sg_policy_acl_classify(acl, ptrs.data() + i, walk.data() + i, 32);
		}
		for (size_t i = 0; i < keys.size(); i++) {
			ASSERT_EQ(got[i], walk[i]) << text << " key " << i;
			ASSERT_EQ(got[i], sg_policy_match(&p.p, &keys[i])) << text << " key " << i;
			allowed += sg_policy_allows(&p.p, got[i]);
		}
		EXPECT_GT(allowed, 1000u);
		EXPECT_LT(allowed, keys.size() - 1000);
		EXPECT_EQ(cache->hits + cache->misses, 0u) << "neither policy is cached";
		free(cache);
		sg_policy_acl_free(acl);
	}
}

} // namespace
