// Unit tests for lib/config: the example configuration parses to what it
// says; every broken configuration in a table fails with its "file:line:
// reason"; key files that are missing or corrupt are refused; nothing is
// half-applied and keys are wiped on free.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "lib/config/sg_config.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/wire/sg_wire.h"
}

#ifndef SG_SOURCE_ROOT
#error "SG_SOURCE_ROOT must name the source tree (set by tests/unit/meson.build)"
#endif

namespace
{

int remove_entry(const char *path, const struct stat *, int, struct FTW *)
{
	return remove(path);
}

struct Key {
	uint8_t raw[32];
	std::string b64;
};

Key new_key()
{
	Key k;
	char b[45];
	sg_random(k.raw, sizeof(k.raw));
	sg_key_to_base64(b, k.raw);
	k.b64 = b;
	return k;
}

std::vector<uint8_t> addr(int family, const char *s)
{
	std::vector<uint8_t> a(16, 0);
	EXPECT_EQ(inet_pton(family, s, a.data()), 1) << s;
	return a;
}

bool same_addr(const uint8_t *got, int family, const char *want)
{
	return memcmp(got, addr(family, want).data(), family == AF_INET ? 4 : 16) == 0;
}

class Config : public ::testing::Test
{
      protected:
	std::string dir;
	Key gw = new_key(), pub1 = new_key(), pub2 = new_key();
	char err[SG_CONFIG_ERR_LEN] = "";
	sg_config cfg = {};

	void SetUp() override
	{
		char tmpl[] = "/tmp/sg-ut-config-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		write("gw.key", gw.b64 + "\n");
	}
	void TearDown() override
	{
		sg_config_free(&cfg);
		nftw(dir.c_str(), remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
	// Key files as wg(8) wants them: for the owner only.
	void write(const std::string &name, const std::string &text, mode_t mode = 0600)
	{
		std::string path = dir + "/" + name;
		{
			std::ofstream f(path, std::ios::binary);
			f << text;
		}
		chmod(path.c_str(), mode);
	}
	// A valid configuration; the tests below rely on its line numbers.
	std::vector<std::string> base() const
	{
		return {
			"[interface]",				 // 1
			"private_key_file = gw.key",		 // 2
			"listen_port = 51820",			 // 3
			"address6 = fd00:1::1",			 // 4
			"mtu = 1420",				 // 5
			"[nic]",				 // 6
			"device = net_af_xdp0,iface=sg-nic0",	 // 7
			"rx_queues = 2",			 // 8
			"tx_queues = 3",			 // 9
			"[workers]",				 // 10
			"lcores = 1,2",				 // 11
			"[vm vm0]",				 // 12
			"socket = /run/sixgate/vm0.sock",	 // 13
			"prefix = fdaa:0:18:a7b:1::/112",	 // 14
			"network = fdaa:0:18::/48",		 // 15
			"mac = 52:54:00:12:34:56",		 // 16
			"[peer p1]",				 // 17
			"public_key = " + pub1.b64,		 // 18
			"allowed_ips = fdaa:0:18:a7b:2::2/128, " // 19
			"fdaa:0:18:a7b:2::/120",		 //
			"network = fdaa:0:18::/48",		 // 20
			"persistent_keepalive = 25",		 // 21
		};						 // appended lines start at 22
	}
	static std::string join(const std::vector<std::string> &lines)
	{
		std::string s;
		for (auto &l : lines)
			s += l + "\n";
		return s;
	}
	int parse(const std::string &text)
	{
		return sg_config_parse(&cfg, "t.conf", text.data(), text.size(), dir.c_str(), err,
				       sizeof(err));
	}
	int parse_file(const std::string &name, const std::string &text)
	{
		write(name, text);
		return sg_config_load(&cfg, (dir + "/" + name).c_str(), err, sizeof(err));
	}
};

TEST_F(Config, BaseConfigParses)
{
	ASSERT_EQ(parse(join(base())), 0) << err;
	EXPECT_STREQ(err, "");
	EXPECT_EQ(cfg.n_vms, 1u);
	EXPECT_EQ(cfg.n_peers, 1u);
	EXPECT_EQ(memcmp(cfg.interface.private_key, gw.raw, 32), 0);
	EXPECT_EQ(memcmp(cfg.peers[0].public_key, pub1.raw, 32), 0);
}

TEST_F(Config, ExampleConfigParsesToWhatItSays)
{
	std::ifstream in(SG_SOURCE_ROOT "/config/sixgate.conf");
	ASSERT_TRUE(in.good());
	std::stringstream text;
	text << in.rdbuf();
	// The example names keys/gateway.key next to itself: put the example and
	// a fresh key in a scratch directory laid out the same way.
	ASSERT_EQ(mkdir((dir + "/keys").c_str(), 0700), 0);
	write("keys/gateway.key", gw.b64 + "\n");
	ASSERT_EQ(parse_file("sixgate.conf", text.str()), 0) << err;

	EXPECT_STREQ(cfg.interface.private_key_file, "keys/gateway.key");
	EXPECT_EQ(memcmp(cfg.interface.private_key, gw.raw, 32), 0);
	EXPECT_EQ(cfg.interface.listen_port, 51820);
	EXPECT_TRUE(cfg.interface.has_address4);
	EXPECT_TRUE(same_addr(cfg.interface.address4, AF_INET, "198.18.0.1"));
	EXPECT_TRUE(cfg.interface.has_address6);
	EXPECT_TRUE(same_addr(cfg.interface.address6, AF_INET6, "fd00:1::1"));
	EXPECT_EQ(cfg.interface.mtu, 1420);

	// Production style: a PCI NIC, not a lab vdev.
	EXPECT_STREQ(cfg.nic.device, "0000:03:00.0");
	EXPECT_EQ(cfg.nic.rx_queues, 2);
	EXPECT_EQ(cfg.nic.tx_queues, 3);

	ASSERT_EQ(cfg.workers.n_lcores, 2u);
	EXPECT_EQ(cfg.workers.lcores[0], 1u);
	EXPECT_EQ(cfg.workers.lcores[1], 2u);
	EXPECT_EQ(cfg.workers.burst, 32u);

	ASSERT_EQ(cfg.n_vms, 1u);
	const sg_config_vm &vm = cfg.vms[0];
	EXPECT_STREQ(vm.name, "vm0");
	EXPECT_STREQ(vm.socket, "/run/sixgate/vm0.sock");
	EXPECT_EQ(vm.prefix.family, AF_INET6);
	EXPECT_EQ(vm.prefix.len, 112);
	EXPECT_TRUE(same_addr(vm.prefix.addr, AF_INET6, "fdaa:0:18:a7b:1::"));
	EXPECT_EQ(vm.network.len, 48);
	EXPECT_TRUE(same_addr(vm.network.addr, AF_INET6, "fdaa:0:18::"));
	EXPECT_FALSE(vm.has_mac);

	ASSERT_EQ(cfg.n_peers, 1u);
	const sg_config_peer &peer = cfg.peers[0];
	EXPECT_STREQ(peer.name, "laptop");
	uint8_t want_pub[32];
	ASSERT_EQ(sg_key_from_base64(want_pub, "5qTiH1ZYAnIauSJK3i1yxTkq2KU4sR5+DU2OS2ICC24="), 0);
	EXPECT_EQ(memcmp(peer.public_key, want_pub, 32), 0);
	EXPECT_FALSE(peer.has_preshared_key);
	ASSERT_EQ(peer.n_allowed_ips, 2u);
	EXPECT_EQ(peer.allowed_ips[0].len, 128);
	EXPECT_TRUE(same_addr(peer.allowed_ips[0].addr, AF_INET6, "fdaa:0:18:a7b:2::2"));
	EXPECT_EQ(peer.allowed_ips[1].len, 120);
	EXPECT_TRUE(same_addr(peer.allowed_ips[1].addr, AF_INET6, "fdaa:0:18:a7b:2::"));
	EXPECT_TRUE(same_addr(peer.network.addr, AF_INET6, "fdaa:0:18::"));
	EXPECT_FALSE(peer.has_endpoint);
	EXPECT_EQ(peer.persistent_keepalive, 0);

	EXPECT_EQ(cfg.timers.rekey_after_time, (uint32_t)SG_REKEY_AFTER_TIME_S);
	EXPECT_EQ(cfg.timers.reject_after_time, (uint32_t)SG_REJECT_AFTER_TIME_S);
	EXPECT_EQ(cfg.timers.keepalive_timeout, (uint32_t)SG_KEEPALIVE_TIMEOUT_S);
	EXPECT_EQ(cfg.timers.rekey_timeout, (uint32_t)SG_REKEY_TIMEOUT_S);
}

TEST_F(Config, KeyFileOpenToOthersIsRefused)
{
	write("gw.key", gw.b64 + "\n", 0644);
	EXPECT_EQ(parse(join(base())), -EINVAL);
	EXPECT_NE(std::string(err).find(
			  "t.conf:2: private_key_file: '" + dir +
			  "/gw.key' is open to group or others (mode 644): chmod 600 it"),
		  std::string::npos)
		<< err;
	write("gw.key", gw.b64 + "\n", 0640);
	EXPECT_EQ(parse(join(base())), -EINVAL) << "group-readable too";
	write("gw.key", gw.b64 + "\n", 0600);
	EXPECT_EQ(parse(join(base())), 0) << err;
}

TEST_F(Config, OptionalKeysAndDefaults)
{
	write("p1.psk", new_key().b64);
	auto l = base();
	l[2] = "# listen_port defaults";
	l[4] = "address4 = 198.18.0.1   # mtu defaults, this comment too";
	l[7] = "#rx_queues";
	l[8] = "#tx_queues defaults too";
	l[10] = "lcores = 1-3, 5";
	l.push_back("endpoint = [fd00:1::2]:51821");
	l.push_back("preshared_key_file = p1.psk");
	l.push_back("[peer p2]");
	l.push_back("public_key = " + pub2.b64);
	l.push_back("allowed_ips = fdaa:0:18:a7b:3::/120, 10.7.0.0/24");
	l.push_back("network = fdaa:0:18::/48");
	l.push_back("endpoint = 198.18.0.9:51820");
	l.push_back("persistent_keepalive = off");
	l.push_back("[timers]");
	l.push_back("rekey_after_time = 3");
	l.push_back("reject_after_time = 6");
	l.push_back("keepalive_timeout = 2");
	l.push_back("rekey_timeout = 1");
	ASSERT_EQ(parse(join(l)), 0) << err;
	EXPECT_EQ(cfg.interface.listen_port, 51820);
	EXPECT_EQ(cfg.interface.mtu, 1420);
	EXPECT_TRUE(same_addr(cfg.interface.address4, AF_INET, "198.18.0.1"));
	EXPECT_EQ(cfg.nic.rx_queues, 1);
	EXPECT_EQ(cfg.nic.tx_queues, 1);
	EXPECT_EQ(cfg.workers.burst, 32u);
	std::vector<unsigned> lc(cfg.workers.lcores, cfg.workers.lcores + cfg.workers.n_lcores);
	EXPECT_EQ(lc, (std::vector<unsigned>{ 1, 2, 3, 5 }));
	EXPECT_TRUE(cfg.vms[0].has_mac);
	EXPECT_EQ(cfg.vms[0].mac[0], 0x52);
	EXPECT_EQ(cfg.vms[0].mac[5], 0x56);

	ASSERT_EQ(cfg.n_peers, 2u);
	const sg_config_peer &p1 = cfg.peers[0], &p2 = cfg.peers[1];
	EXPECT_EQ(p1.persistent_keepalive, 25);
	EXPECT_TRUE(p1.has_endpoint);
	EXPECT_EQ(p1.endpoint.family, AF_INET6);
	EXPECT_EQ(p1.endpoint.port, 51821);
	EXPECT_TRUE(same_addr(p1.endpoint.addr, AF_INET6, "fd00:1::2"));
	EXPECT_TRUE(p1.has_preshared_key);
	EXPECT_FALSE(sg_is_zero(p1.preshared_key, 32));
	EXPECT_EQ(p2.persistent_keepalive, 0);
	EXPECT_EQ(p2.endpoint.family, AF_INET);
	EXPECT_EQ(p2.endpoint.port, 51820);
	ASSERT_EQ(p2.n_allowed_ips, 2u);
	EXPECT_EQ(p2.allowed_ips[1].family, AF_INET);
	EXPECT_EQ(p2.allowed_ips[1].len, 24);
	EXPECT_EQ(p2.line, 24u);
	EXPECT_EQ(cfg.timers.rekey_after_time, 3u);
	EXPECT_EQ(cfg.timers.reject_after_time, 6u);
	EXPECT_EQ(cfg.timers.keepalive_timeout, 2u);
	EXPECT_EQ(cfg.timers.rekey_timeout, 1u);
}

// [metrics]: on at 127.0.0.1:9586 with the top 10 peers unless the file says
// otherwise; "listen = off" turns it off.
TEST_F(Config, MetricsDefaultsAndKeys)
{
	ASSERT_EQ(parse(join(base())), 0) << err;
	EXPECT_TRUE(cfg.metrics.enabled);
	EXPECT_EQ(cfg.metrics.listen.family, AF_INET);
	EXPECT_TRUE(same_addr(cfg.metrics.listen.addr, AF_INET, "127.0.0.1"));
	EXPECT_EQ(cfg.metrics.listen.port, SG_METRICS_PORT);
	EXPECT_EQ(cfg.metrics.peers_top, (unsigned)SG_METRICS_PEERS_TOP);
	auto l = base();
	l.push_back("[metrics]\nlisten = [::1]:9100\npeers_top = 0");
	sg_config_free(&cfg);
	ASSERT_EQ(parse(join(l)), 0) << err;
	EXPECT_EQ(cfg.metrics.listen.family, AF_INET6);
	EXPECT_TRUE(same_addr(cfg.metrics.listen.addr, AF_INET6, "::1"));
	EXPECT_EQ(cfg.metrics.listen.port, 9100);
	EXPECT_EQ(cfg.metrics.peers_top, 0u);
	l = base();
	l.push_back("[metrics]\nlisten = off");
	sg_config_free(&cfg);
	ASSERT_EQ(parse(join(l)), 0) << err;
	EXPECT_FALSE(cfg.metrics.enabled);
}

TEST_F(Config, BurstFromOneToTheMaximum)
{
	for (unsigned b : { 1u, 64u, (unsigned)SG_BURST_MAX }) {
		SCOPED_TRACE(b);
		auto l = base();
		l[10] = "lcores = 1,2\nburst = " + std::to_string(b);
		sg_config_free(&cfg);
		ASSERT_EQ(parse(join(l)), 0) << err;
		EXPECT_EQ(cfg.workers.burst, b);
	}
}

TEST_F(Config, CyclesOffByDefaultOnWhenAsked)
{
	ASSERT_EQ(parse(join(base())), 0) << err;
	EXPECT_EQ(cfg.workers.cycles, 0);
	for (const char *v : { "on", "off" }) {
		SCOPED_TRACE(v);
		auto l = base();
		l[10] = std::string("lcores = 1,2\ncycles = ") + v;
		sg_config_free(&cfg);
		ASSERT_EQ(parse(join(l)), 0) << err;
		EXPECT_EQ(cfg.workers.cycles, strcmp(v, "on") == 0 ? 1 : 0);
	}
}

TEST_F(Config, DemoConfigParsesWithTwoOrgs)
{
	std::ifstream in(SG_SOURCE_ROOT "/config/demo.conf");
	ASSERT_TRUE(in.good());
	std::stringstream text;
	text << in.rdbuf();
	ASSERT_EQ(mkdir((dir + "/keys").c_str(), 0700), 0);
	write("keys/gateway.key", gw.b64 + "\n");
	std::ifstream pol(SG_SOURCE_ROOT "/config/demo.policy");
	std::stringstream ptext;
	ptext << pol.rdbuf();
	write("demo.policy", ptext.str());
	ASSERT_EQ(parse_file("demo.conf", text.str()), 0) << err;
	EXPECT_EQ(std::string(cfg.interface.policy_file), dir + "/demo.policy");
	EXPECT_EQ(strncmp(cfg.nic.device, "net_af_packet0,", 15), 0) << cfg.nic.device;
	ASSERT_EQ(cfg.n_vms, 2u);
	ASSERT_EQ(cfg.n_peers, 2u);
	EXPECT_NE(memcmp(cfg.vms[0].network.addr, cfg.vms[1].network.addr, 16), 0);
	EXPECT_EQ(memcmp(cfg.vms[0].network.addr, cfg.peers[0].network.addr, 16), 0);
	EXPECT_EQ(memcmp(cfg.vms[1].network.addr, cfg.peers[1].network.addr, 16), 0);
}

TEST_F(Config, CrlfLinesAndHashInsideValues)
{
	auto l = base();
	l[12] = "socket = /run/sixgate/vm#0.sock";
	std::string text;
	for (auto &x : l)
		text += x + "\r\n";
	ASSERT_EQ(parse(text), 0) << err;
	EXPECT_STREQ(cfg.vms[0].socket, "/run/sixgate/vm#0.sock");
}

// One broken configuration each: lines replaced in the base (1-based line
// numbers; "" comments a line out) or appended at its end (line 0).
struct Edit {
	int line;
	std::string text;
};

struct BrokenCase {
	const char *what;
	std::vector<Edit> edits;
	std::string want; // expected substring of the error
};

class ConfigBroken : public Config
{
      protected:
	std::string build(const std::vector<Edit> &edits)
	{
		auto l = base();
		for (auto &e : edits) {
			if (e.line == 0)
				l.push_back(e.text);
			else
				l[e.line - 1] = e.text.empty() ? "#" : e.text;
		}
		return join(l);
	}
	std::vector<BrokenCase> cases()
	{
		std::string vm1 =
			"[vm vm1]\nsocket = /run/sixgate/vm1.sock\nnetwork = fdaa:0:18::/48";
		std::string p2 =
			"[peer p2]\npublic_key = " + pub2.b64 + "\nnetwork = fdaa:0:18::/48";
		std::string zero(43, 'A');
		return {
			{ "unknown section",
			  { { 0, "[bogus]" } },
			  "t.conf:22: unknown section [bogus]" },
			{ "unknown key",
			  { { 5, "mtux = 1420" } },
			  "t.conf:5: unknown key 'mtux' in [interface]" },
			{ "duplicate key",
			  { { 0, "network = fdaa:0:18::/48" } },
			  "t.conf:22: duplicate key 'network' (first at line 20)" },
			{ "key outside a section",
			  { { 1, "mtu = 1400" } },
			  "t.conf:1: 'mtu' outside any section" },
			{ "line without =",
			  { { 0, "just words" } },
			  "t.conf:22: expected 'key = value'" },
			{ "empty value", { { 5, "mtu =" } }, "t.conf:5: 'mtu' has no value" },
			{ "unclosed header",
			  { { 0, "[peer p2" } },
			  "t.conf:22: section header without a closing ']'" },
			{ "one-off section twice",
			  { { 0, "[nic]" } },
			  "t.conf:22: section [nic] appears twice (first at line 6)" },
			{ "name on a one-off section",
			  { { 0, "[interface eth0]" } },
			  "t.conf:22: [interface] takes no name" },
			{ "vm without a name", { { 0, "[vm]" } }, "t.conf:22: [vm] needs a name" },
			{ "bad vm name", { { 0, "[vm a/b]" } }, "t.conf:22: bad vm name 'a/b'" },
			{ "vm name twice",
			  { { 0, "[vm vm0]" } },
			  "t.conf:22: [vm vm0] defined twice (first at line 12)" },
			{ "missing section",
			  { { 10, "" }, { 11, "" } },
			  "t.conf:21: no [workers] section" },
			{ "port too big",
			  { { 3, "listen_port = 70000" } },
			  "t.conf:3: listen_port must be a whole number from 1 to 65535, not "
			  "'70000'" },
			{ "port with junk",
			  { { 3, "listen_port = 51820x" } },
			  "t.conf:3: listen_port must be a whole number" },
			{ "bad address",
			  { { 4, "address6 = fd00::1::1" } },
			  "t.conf:4: address6: 'fd00::1::1' is not an IPv6 address" },
			{ "IPv4 as address6",
			  { { 4, "address6 = 198.18.0.1" } },
			  "t.conf:4: address6: '198.18.0.1' is not an IPv6" },
			{ "no outer address",
			  { { 4, "" } },
			  "t.conf:1: [interface] needs address4, address6 or both" },
			{ "no private key file",
			  { { 2, "" } },
			  "t.conf:1: [interface] needs private_key_file" },
			{ "mtu too small",
			  { { 5, "mtu = 1000" } },
			  "t.conf:5: mtu must be a whole number from 1280 to 9000" },
			{ "inline private key",
			  { { 2, "private_key = " + gw.b64 } },
			  "t.conf:2: private_key is not accepted here" },
			{ "key where the key file belongs",
			  { { 2, "private_key_file = " + gw.b64 } },
			  "t.conf:2: private_key_file must name a file, and this looks like a "
			  "key" },
			{ "inline preshared key",
			  { { 0, "preshared_key = " + pub2.b64 } },
			  "t.conf:22: preshared_key is not accepted here" },
			{ "device not a device",
			  { { 7, "device = eth0" } },
			  "t.conf:7: device: 'eth0' is neither a PCI address" },
			{ "device with a space",
			  { { 7, "device = net_tap0, iface=x" } },
			  "t.conf:7: device: no spaces" },
			{ "next_hop4 is not a key (MACs are learned)",
			  { { 9, "next_hop4 = 198.18.0.254" } },
			  "t.conf:9: unknown key 'next_hop4' in [nic]" },
			{ "next_hop6 is not a key (MACs are learned)",
			  { { 9, "next_hop6 = fd00:1::fe" } },
			  "t.conf:9: unknown key 'next_hop6' in [nic]" },
			{ "cycles neither on nor off",
			  { { 11, "lcores = 1,2\ncycles = yes" } },
			  "t.conf:12: cycles must be on or off, not 'yes'" },
			{ "burst zero",
			  { { 11, "lcores = 1,2\nburst = 0" } },
			  "t.conf:12: burst must be a whole number from 1 to 256, not '0'" },
			{ "burst above the maximum",
			  { { 11, "lcores = 1,2\nburst = 257" } },
			  "t.conf:12: burst must be a whole number from 1 to 256, not '257'" },
			{ "queues zero",
			  { { 9, "tx_queues = 0" } },
			  "t.conf:9: tx_queues must be a whole number from 1" },
			{ "lcore twice",
			  { { 11, "lcores = 1,2,1" } },
			  "t.conf:11: lcores: lcore 1 listed twice" },
			{ "lcore range overlaps",
			  { { 11, "lcores = 1-3,2" } },
			  "t.conf:11: lcores: lcore 2 listed twice" },
			{ "empty lcore",
			  { { 11, "lcores = 1,,2" } },
			  "t.conf:11: lcores: empty item" },
			{ "backwards range",
			  { { 11, "lcores = 3-1" } },
			  "t.conf:11: lcores: bad item '3-1'" },
			{ "lcore too big",
			  { { 11, "lcores = 128" } },
			  "t.conf:11: lcores: bad item '128'" },
			{ "no lcores",
			  { { 11, "burst = 32" } },
			  "t.conf:10: [workers] needs lcores" },
			{ "vm prefix not a /112",
			  { { 14, "prefix = fdaa:0:18:a7b:1::/120" } },
			  "t.conf:14: prefix must be an IPv6 /112, not fdaa:0:18:a7b:1::/120" },
			{ "vm prefix outside its network",
			  { { 14, "prefix = fdaa:0:19:a7b:1::/112" } },
			  "t.conf:14: prefix fdaa:0:19:a7b:1::/112 is outside network "
			  "fdaa:0:18::/48" },
			{ "host bits set",
			  { { 14, "prefix = fdaa:0:18:a7b:1::5/112" } },
			  "t.conf:14: prefix: 'fdaa:0:18:a7b:1::5/112' has host bits set (the "
			  "prefix is "
			  "fdaa:0:18:a7b:1::/112)" },
			{ "prefix length too long",
			  { { 14, "prefix = fdaa::/129" } },
			  "t.conf:14: prefix: bad prefix length '/129'" },
			{ "not a CIDR",
			  { { 14, "prefix = fdaa:0:18:a7b:1::" } },
			  "t.conf:14: prefix: 'fdaa:0:18:a7b:1::' is not a CIDR" },
			{ "network not a /48",
			  { { 15, "network = fdaa:0:18::/64" } },
			  "t.conf:15: network must be a 6PN org /48" },
			{ "network not 6PN",
			  { { 15, "network = fd00:0:18::/48" } },
			  "t.conf:15: network must be a 6PN org /48" },
			{ "vm without socket", { { 13, "" } }, "t.conf:12: [vm vm0] needs socket" },
			{ "multicast mac",
			  { { 16, "mac = 01:00:5e:00:00:01" } },
			  "t.conf:16: mac: '01:00:5e:00:00:01' is a multicast address" },
			{ "short mac",
			  { { 16, "mac = 52:54:00:12:34" } },
			  "t.conf:16: mac: '52:54:00:12:34' is not a MAC" },
			{ "two vms, one prefix",
			  { { 0, vm1 }, { 0, "prefix = fdaa:0:18:a7b:1::/112" } },
			  "t.conf:25: prefix fdaa:0:18:a7b:1::/112 overlaps vm vm0 (line 12)" },
			{ "two vms, one socket",
			  { { 0, "[vm vm1]\nsocket = /run/sixgate/vm0.sock\nprefix = "
				 "fdaa:0:18:a7b:9::/112\n"
				 "network = fdaa:0:18::/48" } },
			  "t.conf:23: socket '/run/sixgate/vm0.sock' is already vm vm0's (line "
			  "12)" },
			{ "vm over a peer's allowed IPs",
			  { { 0, vm1 }, { 0, "prefix = fdaa:0:18:a7b:2::/112" } },
			  "t.conf:25: prefix fdaa:0:18:a7b:2::/112 overlaps an allowed IP of peer "
			  "p1 (line 17)" },
			{ "allowed IP outside the peer's network",
			  { { 19, "allowed_ips = fdaa:0:19::2/128" } },
			  "t.conf:19: allowed IP fdaa:0:19::2/128 is outside network "
			  "fdaa:0:18::/48" },
			{ "allowed IP over a vm",
			  { { 19, "allowed_ips = fdaa:0:18:a7b:1::2/128" } },
			  "t.conf:19: allowed IP fdaa:0:18:a7b:1::2/128 overlaps the prefix of vm "
			  "vm0 (line 12)" },
			{ "allowed IP listed twice",
			  { { 19, "allowed_ips = fdaa:0:18:a7b:2::2/128,fdaa:0:18:a7b:2::2/128" } },
			  "t.conf:19: allowed_ips: fdaa:0:18:a7b:2::2/128 listed twice" },
			{ "empty allowed IP",
			  { { 19, "allowed_ips = fdaa:0:18:a7b:2::2/128," } },
			  "t.conf:19: allowed_ips: empty item" },
			{ "allowed IP of two peers",
			  { { 0, p2 }, { 0, "allowed_ips = fdaa:0:18:a7b:2::2/128" } },
			  "t.conf:25: allowed IP fdaa:0:18:a7b:2::2/128 is already peer p1's (line "
			  "17)" },
			{ "two peers, one public key",
			  { { 0, "[peer p2]\npublic_key = " + pub1.b64 +
					 "\nallowed_ips = fdaa:0:18:a7b:3::2/128" } },
			  "t.conf:23: public_key is already peer p1's (line 17)" },
			{ "peer without allowed IPs",
			  { { 0, p2 } },
			  "t.conf:22: [peer p2] needs allowed_ips" },
			{ "peer without network",
			  { { 20, "" } },
			  "t.conf:17: [peer p1] needs network" },
			{ "bad public key",
			  { { 18, "public_key = notakey" } },
			  "t.conf:18: public_key: not a base64 key of 32 bytes" },
			{ "zero public key",
			  { { 18, "public_key = " + zero + "=" } },
			  "t.conf:18: public_key: the all-zero key is not a key" },
			{ "endpoint without brackets",
			  { { 0, "endpoint = fd00::1:51820" } },
			  "t.conf:22: endpoint: 'fd00::1:51820' is not ADDRESS:PORT" },
			{ "endpoint port zero",
			  { { 0, "endpoint = [fd00::1]:0" } },
			  "t.conf:22: endpoint: '[fd00::1]:0'" },
			{ "endpoint host name",
			  { { 0, "endpoint = example.org:51820" } },
			  "t.conf:22: endpoint: 'example.org:51820'" },
			{ "endpoint family without address",
			  { { 0, "endpoint = 198.18.0.9:51820" } },
			  "t.conf:17: [peer p1] has an IPv4 endpoint but [interface] has no "
			  "address4" },
			{ "bad keepalive",
			  { { 21, "persistent_keepalive = -1" } },
			  "t.conf:21: persistent_keepalive must be a whole number from 0 to "
			  "65535" },
			{ "rekey after reject",
			  { { 0, "[timers]\nrekey_after_time = 100\nreject_after_time = 90" } },
			  "t.conf:22: [timers] reject_after_time (90) must be longer than "
			  "rekey_after_time (100)" },
			{ "keys living longer than the protocol lets them",
			  { { 0, "[timers]\nreject_after_time = 181" } },
			  "t.conf:23: reject_after_time must be a whole number from 1 to 180" },
			{ "rekey later than the protocol",
			  { { 0, "[timers]\nrekey_after_time = 121" } },
			  "t.conf:23: rekey_after_time must be a whole number from 1 to 120" },
			{ "reject within keepalive + rekey timeout",
			  { { 0, "[timers]\nrekey_after_time = 10\nreject_after_time = 15" } },
			  "t.conf:22: [timers] reject_after_time (15) must be longer than "
			  "keepalive_timeout + rekey_timeout (10 + 5)" },
			{ "zero timer",
			  { { 0, "[timers]\nrekey_timeout = 0" } },
			  "t.conf:23: rekey_timeout must be a whole number from 1" },
			{ "metrics address without a port",
			  { { 0, "[metrics]\nlisten = 127.0.0.1" } },
			  "t.conf:23: endpoint: '127.0.0.1' is not ADDRESS:PORT or [IPV6]:PORT" },
			{ "store url that is a file",
			  { { 0, "[store]\nurl = peers.db" } },
			  "t.conf:23: [store] url must be postgresql://... (a file is path = "
			  "FILE)" },
			{ "store path and url",
			  { { 0, "[store]\npath = peers.db\nurl = postgresql:///sixgate" } },
			  "t.conf:24: [store] has path or url once" },
			{ "metrics peers_top past the bound",
			  { { 0, "[metrics]\npeers_top = 101" } },
			  "t.conf:23: peers_top must be a whole number from 0 to 100" },
			{ "fleet without its partner",
			  { { 0, "[fleet]\nnode_id = 1\npartner_id = 2\nsecret_file = gw.key\n"
				 "listen = [fd00:2::1]:7010" } },
			  "t.conf:22: [fleet] needs partner" },
			{ "fleet without a secret",
			  { { 0, "[fleet]\nnode_id = 1\npartner_id = 2\nlisten = [fd00:2::1]:7010\n"
				 "partner = [fd00:2::2]:7010" } },
			  "t.conf:22: [fleet] needs secret_file" },
			{ "fleet with one node id twice",
			  { { 0, "[fleet]\nnode_id = 3\npartner_id = 3\nsecret_file = gw.key\n"
				 "listen = [fd00:2::1]:7010\npartner = [fd00:2::2]:7010" } },
			  "t.conf:22: [fleet] node_id and partner_id must differ" },
			{ "fleet node id 0",
			  { { 0, "[fleet]\nnode_id = 0" } },
			  "t.conf:23: node_id must be a whole number from 1" },
			{ "fleet across address families",
			  { { 0, "[fleet]\nnode_id = 1\npartner_id = 2\nsecret_file = gw.key\n"
				 "listen = 198.18.0.1:7010\npartner = [fd00:2::2]:7010" } },
			  "t.conf:22: [fleet] listen and partner must be of one address family" },
			{ "fleet takeover within two heartbeats",
			  { { 0, "[fleet]\nnode_id = 1\npartner_id = 2\nsecret_file = gw.key\n"
				 "listen = [fd00:2::1]:7010\npartner = [fd00:2::2]:7010\n"
				 "heartbeat_ms = 100\ntakeover_ms = 150" } },
			  "t.conf:22: [fleet] takeover_ms (150) must be at least two heartbeats "
			  "(2 x 100)" },
			{ "fleet secret that is no key",
			  { { 0, "[fleet]\nsecret_file = t.conf" } },
			  "t.conf:23: secret_file" },
		};
	}
};

TEST_F(ConfigBroken, EachBrokenConfigSaysFileLineAndReason)
{
	int n = 0;
	for (const auto &c : cases()) {
		SCOPED_TRACE(c.what);
		sg_config_free(&cfg);
		strcpy(err, "");
		EXPECT_EQ(parse(build(c.edits)), -EINVAL);
		EXPECT_NE(std::string(err).find(c.want), std::string::npos)
			<< "got:  " << err << "\nwant: " << c.want;
		// Nothing was handed back.
		EXPECT_EQ(cfg.vms, nullptr);
		EXPECT_EQ(cfg.n_peers, 0u);
		EXPECT_EQ(cfg.interface.private_key_file, nullptr);
		n++;
	}
	EXPECT_GE(n, 60);
}

TEST_F(ConfigBroken, ErrorLeavesThePreviousConfigUntouched)
{
	ASSERT_EQ(parse(join(base())), 0) << err;
	sg_config before = cfg;
	EXPECT_EQ(parse(build({ { 0, "[bogus]" } })), -EINVAL);
	EXPECT_EQ(memcmp(&cfg, &before, sizeof(cfg)), 0);
	EXPECT_EQ(cfg.n_vms, 1u);
}

TEST_F(Config, NulByteAndOverlongLine)
{
	std::string text = join(base());
	text.insert(text.find("mtu"), std::string("\0", 1));
	EXPECT_EQ(parse(text), -EINVAL);
	EXPECT_NE(std::string(err).find("t.conf:5: NUL byte"), std::string::npos) << err;

	auto l = base();
	l[4] = "# " + std::string(5000, 'x');
	EXPECT_EQ(parse(join(l)), -EINVAL);
	EXPECT_NE(std::string(err).find("t.conf:5: line longer than"), std::string::npos) << err;
}

TEST_F(Config, ErrorBufferIsNeverOverrun)
{
	char small[12];
	memset(small, 'z', sizeof(small));
	std::string text = join(base()) + "[bogus]\n";
	EXPECT_EQ(sg_config_parse(&cfg, "t.conf", text.data(), text.size(), dir.c_str(), small, 8),
		  -EINVAL);
	EXPECT_STREQ(small, "t.conf:");
	EXPECT_EQ(small[8], 'z');
	// No buffer at all is allowed too.
	EXPECT_EQ(
		sg_config_parse(&cfg, "t.conf", text.data(), text.size(), dir.c_str(), nullptr, 0),
		-EINVAL);
}

// --- key files -------------------------------------------------------------

class ConfigKeyFile : public Config
{
      protected:
	std::string with_key_file(const std::string &path)
	{
		auto l = base();
		l[1] = "private_key_file = " + path;
		return join(l);
	}
	void expect_refused(const std::string &path, const std::string &want)
	{
		EXPECT_EQ(parse(with_key_file(path)), -EINVAL);
		EXPECT_NE(std::string(err).find(want), std::string::npos)
			<< "got:  " << err << "\nwant: " << want;
		EXPECT_EQ(cfg.interface.private_key_file, nullptr);
	}
};

TEST_F(ConfigKeyFile, MissingFile)
{
	expect_refused("nope.key", "t.conf:2: private_key_file: cannot read '" + dir +
					   "/nope.key': No such file or directory");
}

TEST_F(ConfigKeyFile, DirectoryIsNotAKeyFile)
{
	ASSERT_EQ(mkdir((dir + "/d").c_str(), 0700), 0);
	expect_refused("d", "t.conf:2: private_key_file: cannot read '" + dir + "/d'");
}

TEST_F(ConfigKeyFile, CorruptFilesAreRefusedWithoutShowingThem)
{
	Key k = new_key();
	const std::vector<std::pair<std::string, std::string>> bad = {
		{ "empty.key", "" },
		{ "garbage.key", "this is not a key\n" },
		{ "short.key", k.b64.substr(0, 43) + "\n" },
		{ "nopad.key", k.b64.substr(0, 43) + "A\n" },
		{ "two.key", k.b64 + "\n" + k.b64 + "\n" },
		{ "junk.key", k.b64 + "junk\n" },
		{ "long.key", std::string(300, 'A') },
		{ "nul.key", k.b64.substr(0, 20) + std::string("\0", 1) + k.b64.substr(21) },
	};
	for (const auto &b : bad) {
		SCOPED_TRACE(b.first);
		write(b.first, b.second);
		EXPECT_EQ(parse(with_key_file(b.first)), -EINVAL);
		std::string e = err;
		EXPECT_NE(e.find("t.conf:2: private_key_file: '" + dir + "/" + b.first + "'"),
			  std::string::npos)
			<< e;
		// Whatever the file held never reaches the message.
		EXPECT_EQ(e.find(k.b64.substr(0, 16)), std::string::npos) << e;
	}
}

TEST_F(ConfigKeyFile, KeyFileWithoutNewlineAndAbsolutePath)
{
	write("abs.key", gw.b64);
	ASSERT_EQ(parse(with_key_file(dir + "/abs.key")), 0) << err;
	EXPECT_EQ(memcmp(cfg.interface.private_key, gw.raw, 32), 0);
}

TEST_F(ConfigKeyFile, MissingAndCorruptPresharedKeyFiles)
{
	auto l = base();
	l.push_back("preshared_key_file = p1.psk");
	std::string text = join(l);
	EXPECT_EQ(parse(text), -EINVAL);
	EXPECT_NE(std::string(err).find("t.conf:22: preshared_key_file: cannot read"),
		  std::string::npos)
		<< err;
	write("p1.psk", "garbage");
	EXPECT_EQ(parse(text), -EINVAL);
	EXPECT_NE(std::string(err).find("t.conf:22: preshared_key_file: '" + dir +
					"/p1.psk' does not hold one base64 key"),
		  std::string::npos)
		<< err;
	Key psk = new_key();
	write("p1.psk", psk.b64 + "\n");
	ASSERT_EQ(parse(text), 0) << err;
	EXPECT_EQ(memcmp(cfg.peers[0].preshared_key, psk.raw, 32), 0);
}

TEST_F(Config, FreeWipesTheKeys)
{
	write("p1.psk", new_key().b64);
	auto l = base();
	l.push_back("preshared_key_file = p1.psk");
	ASSERT_EQ(parse(join(l)), 0) << err;
	ASSERT_FALSE(sg_is_zero(cfg.interface.private_key, 32));
	sg_config_free(&cfg);
	EXPECT_TRUE(sg_is_zero(cfg.interface.private_key, 32));
	EXPECT_EQ(cfg.peers, nullptr);
	EXPECT_EQ(cfg.n_peers, 0u);
	sg_config_free(&cfg); // twice is harmless
	sg_config_free(nullptr);
}

TEST_F(Config, LoadReportsAMissingFile)
{
	std::string path = dir + "/absent.conf";
	EXPECT_EQ(sg_config_load(&cfg, path.c_str(), err, sizeof(err)), -EINVAL);
	EXPECT_NE(std::string(err).find(path + ":0: cannot open: No such file"), std::string::npos)
		<< err;
}

TEST_F(Config, LoadReadsKeysNextToTheConfigFile)
{
	// The relative key path is taken from the config file's directory, not
	// from the working directory.
	ASSERT_EQ(mkdir((dir + "/etc").c_str(), 0700), 0);
	write("etc/gw.key", gw.b64 + "\n");
	unlink((dir + "/gw.key").c_str());
	ASSERT_EQ(parse_file("etc/sixgate.conf", join(base())), 0) << err;
	EXPECT_EQ(memcmp(cfg.interface.private_key, gw.raw, 32), 0);
}

// A file of 20,000 peers (7,000 were refused before: "larger than 1 MiB",
// "more than 4096 [peer] sections") loads, and a duplicate name, key or
// allowed IP at its end still names the first peer that had it.
TEST_F(Config, TwentyThousandPeersLoadAndDuplicatesAtTheEndAreFound)
{
	constexpr unsigned kPeers = 20000;
	std::vector<std::string> lines = base();
	std::vector<Key> keys;
	char ip[64];
	for (unsigned i = 0; i < kPeers; i++) {
		keys.push_back(new_key());
		snprintf(ip, sizeof(ip), "fdaa:0:18:ff00::%x:%x/128", i >> 16, i & 0xffff);
		lines.push_back("[peer n" + std::to_string(i) + "]");
		lines.push_back("public_key = " + keys.back().b64);
		lines.push_back(std::string("allowed_ips = ") + ip);
		lines.push_back("network = fdaa:0:18::/48");
	}
	std::string text = join(lines);
	ASSERT_GT(text.size(), 1u << 20);
	ASSERT_EQ(parse_file("many.conf", text), 0) << err;
	EXPECT_EQ(cfg.n_peers, kPeers + 1);
	EXPECT_EQ(memcmp(cfg.peers[kPeers].public_key, keys.back().raw, 32), 0);
	sg_config_free(&cfg);

	// Line 22 is the header of peer n0, 22 + 4 * i that of peer n<i>.
	auto last = [&](std::vector<std::string> extra) {
		std::vector<std::string> l = lines;
		l.insert(l.end(), extra.begin(), extra.end());
		return join(l);
	};
	unsigned end = 22 + 4 * kPeers;
	EXPECT_EQ(parse(last({ "[peer n7]" })), -EINVAL);
	EXPECT_EQ(std::string(err),
		  "t.conf:" + std::to_string(end) + ": [peer n7] defined twice (first at line 50)");
	EXPECT_EQ(parse(last({ "[peer x]", "public_key = " + keys[9].b64 })), -EINVAL);
	EXPECT_EQ(std::string(err), "t.conf:" + std::to_string(end + 1) +
					    ": public_key is already peer n9's (line 58)");
	EXPECT_EQ(parse(last({ "[peer x]", "public_key = " + new_key().b64,
			       "allowed_ips = fdaa:0:18:ff00::0:5/128",
			       "network = fdaa:0:18::/48" })),
		  -EINVAL);
	EXPECT_EQ(std::string(err),
		  "t.conf:" + std::to_string(end + 2) +
			  ": allowed IP fdaa:0:18:ff00::5/128 is already peer n5's "
			  "(line 42)");
}

} // namespace

namespace
{

// [interface] policy_file: relative to the config's directory, and readable.
TEST_F(Config, PolicyFileIsFoundNextToTheConfig)
{
	auto l = base();
	l.insert(l.begin() + 5, "policy_file = t.policy"); // line 6
	ASSERT_EQ(parse(join(l)), -EINVAL);
	EXPECT_EQ(std::string(err), "t.conf:6: policy_file: cannot read '" + dir +
					    "/t.policy': No such file or directory");
	write("t.policy", "allow from any to any\n");
	ASSERT_EQ(parse(join(l)), 0) << err;
	EXPECT_EQ(std::string(cfg.interface.policy_file), dir + "/t.policy");
	EXPECT_EQ(cfg.interface.policy_line, 6u);
	sg_config_free(&cfg);
	ASSERT_EQ(parse(join(base())), 0) << err;
	EXPECT_EQ(cfg.interface.policy_file, nullptr);
}

// A file is relative to the config's directory (also as sqlite:FILE); a
// PostgreSQL URL is kept as it is, under path or url.
TEST_F(Config, FleetIsOffUnlessConfiguredAndKeepsItsKeys)
{
	auto l = base();
	ASSERT_EQ(parse(join(l)), 0) << err;
	EXPECT_EQ(cfg.fleet.enabled, 0);
	sg_config_free(&cfg);
	for (const char *k : { "[fleet]", "node_id = 7", "partner_id = 8", "secret_file = gw.key",
			       "listen = [fd00:2::1]:7010", "partner = [fd00:2::2]:7011" })
		l.push_back(k);
	ASSERT_EQ(parse(join(l)), 0) << err;
	EXPECT_EQ(cfg.fleet.enabled, 1);
	EXPECT_EQ(cfg.fleet.node_id, 7u);
	EXPECT_EQ(cfg.fleet.partner_id, 8u);
	EXPECT_EQ(cfg.fleet.partner.port, 7011);
	EXPECT_EQ(cfg.fleet.heartbeat_ms, (uint32_t)SG_FLEET_HEARTBEAT_MS);
	EXPECT_EQ(cfg.fleet.takeover_ms, (uint32_t)SG_FLEET_TAKEOVER_MS);
	EXPECT_EQ(memcmp(cfg.fleet.secret, cfg.interface.private_key, 32), 0);
	sg_config_free(&cfg);
	uint8_t zero[32] = {};
	EXPECT_EQ(memcmp(cfg.fleet.secret, zero, 32), 0) << "wiped";
}

TEST_F(Config, StoreIsAFileOrAPostgresUrl)
{
	const std::vector<std::pair<std::string, std::string>> cases = {
		{ "path = peers.db", dir + "/peers.db" },
		{ "path = /var/lib/sixgate/peers.db", "/var/lib/sixgate/peers.db" },
		{ "path = sqlite:peers.db", "sqlite:" + dir + "/peers.db" },
		{ "path = postgresql:///sixgate?host=/run/pg",
		  "postgresql:///sixgate?host=/run/pg" },
		{ "url = postgres://gw@db.example/sixgate", "postgres://gw@db.example/sixgate" },
	};
	for (const auto &c : cases) {
		SCOPED_TRACE(c.first);
		sg_config_free(&cfg);
		auto l = base();
		l.push_back("[store]");
		l.push_back(c.first);
		ASSERT_EQ(parse(join(l)), 0) << err;
		EXPECT_EQ(std::string(cfg.store.path), c.second);
	}
}

} // namespace
