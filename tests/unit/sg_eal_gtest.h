/*
 * EAL for one Google Test binary, as a global test environment: one lcore,
 * no hugepages, no PCI, telemetry only when asked, a file prefix of its own
 * that is removed at the end.
 *
 *   ::testing::Environment *const env =
 *           ::testing::AddGlobalTestEnvironment(new sgut::Eal("routing", false));
 */
#pragma once

#include <gtest/gtest.h>
#include <ftw.h>
#include <unistd.h>
#include <string>
#include <vector>

#include <rte_eal.h>

namespace sgut
{

inline int eal_rm_entry(const char *path, const struct stat *, int, struct FTW *)
{
	return remove(path);
}

class Eal : public ::testing::Environment
{
      public:
	// mem_mb: EAL's memory (--no-huge -m), reserved, not touched until used.
	Eal(const char *name, bool telemetry, unsigned mem_mb = 256)
	    : name_(name), telemetry_(telemetry), mem_(std::to_string(mem_mb))
	{
	}
	void SetUp() override
	{
		std::string prefix =
			"--file-prefix=sg-ut-" + name_ + "-" + std::to_string(getpid());
		std::vector<const char *> av = {
			name_.c_str(), "-l",	       "0",
			"--no-huge",   "-m",	       mem_.c_str(),
			"--no-pci",    prefix.c_str(), "--log-level=lib.eal:error"
		};
		if (!telemetry_)
			av.push_back("--no-telemetry");
		ASSERT_GE(rte_eal_init((int)av.size(), (char **)av.data()), 0);
		runtime_dir_ = rte_eal_get_runtime_dir();
	}
	void TearDown() override
	{
		rte_eal_cleanup();
		if (!runtime_dir_.empty())
			nftw(runtime_dir_.c_str(), eal_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
	const std::string &runtime_dir() const
	{
		return runtime_dir_;
	}

      private:
	std::string name_, runtime_dir_;
	bool telemetry_;
	std::string mem_;
};

} // namespace sgut
