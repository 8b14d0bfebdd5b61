// SPDX-License-Identifier: MIT
// A PostgreSQL server of the test's own: initdb into a temporary directory
// (as the user postgres when the test runs as root: the server refuses
// root), listening on a Unix socket in that directory only
// (listen_addresses = ''), stopped and restarted at will, and stopped and
// removed when the test binary ends (also when a test fails; if the binary
// crashes or is killed, the server follows it, PR_SET_PDEATHSIG, and only
// the directory is left).  Each test gets a fresh database
// (sgpg::Server::create_db).
#ifndef SG_PG_H
#define SG_PG_H

#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

namespace sgpg
{

class Server
{
      public:
	std::string dir, bindir, why_not; // why_not: the reason tests skip
	pid_t pid = -1;

	// The newest /usr/lib/postgresql/N/bin, initdb'd into a new directory.
	bool init()
	{
		glob_t g;
		if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &g) != 0) {
			why_not =
				"no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): "
				"scripts/setup installs the Debian package postgresql";
			return false;
		}
		bindir = g.gl_pathv[g.gl_pathc - 1];
		globfree(&g);
		bindir.resize(bindir.size() - strlen("/initdb"));
		char tmpl[] = "/tmp/sg-ut-pg-XXXXXX";
		if (mkdtemp(tmpl) == nullptr) {
			why_not = "mkdtemp failed";
			return false;
		}
		dir = tmpl;
		if (geteuid() == 0) {
			struct passwd *pw = getpwnam("postgres");
			if (pw == nullptr) {
				why_not =
					"running as root and there is no user postgres to run the "
					"server as";
				return false;
			}
			uid = pw->pw_uid;
			gid = pw->pw_gid;
			if (chown(dir.c_str(), uid, gid) != 0) {
				why_not = "chown of " + dir + " failed";
				return false;
			}
		}
		int rc = run({ bindir + "/initdb", "-D", dir + "/data", "-U", "sg", "-A", "trust",
			       "-E", "UTF8", "--locale=C", "--no-sync" },
			     dir + "/initdb.log", true);
		if (rc != 0) {
			why_not = "initdb failed (" + dir + "/initdb.log)";
			return false;
		}
		return true;
	}

	// Starts the server and waits until it accepts connections (30 s at most).
	bool start()
	{
		pid = run({ bindir + "/postgres", "-D", dir + "/data", "-k", dir, "-c",
			    "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=40",
			    "-c", "shared_buffers=16MB" },
			  dir + "/server.log", false);
		std::string ci = "host=" + dir + " dbname=postgres user=sg connect_timeout=2";
		for (int i = 0; i < 300; i++) {
			if (PQping(ci.c_str()) == PQPING_OK)
				return true;
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				pid = -1;
				return false;
			}
			std::this_thread::sleep_for(std::chrono::milliseconds(100));
		}
		return false;
	}

	// Stops it (fast shutdown: clients are disconnected) and waits for it.
	void stop()
	{
		if (pid <= 0)
			return;
		kill(pid, SIGINT);
		int st;
		waitpid(pid, &st, 0);
		pid = -1;
	}

	~Server()
	{
		stop();
		if (!dir.empty())
			nftw(dir.c_str(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}

	// A libpq URI of database db on this server.
	std::string uri(const std::string &db) const
	{
		return "postgresql:///" + db + "?host=" + dir + "&user=sg";
	}

	// Runs one statement as the superuser in database db; "" when it worked.
	std::string sql(const std::string &q, const std::string &db = "postgres",
			std::string *value = nullptr) const
	{
		std::string ci = "host=" + dir + " dbname=" + db + " user=sg";
		PGconn *h = PQconnectdb(ci.c_str());
		std::string err;
		if (PQstatus(h) != CONNECTION_OK) {
			err = PQerrorMessage(h);
		} else {
			PGresult *r = PQexec(h, q.c_str());
			ExecStatusType st = PQresultStatus(r);
			if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
				err = PQresultErrorMessage(r);
			else if (value != nullptr)
				*value = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)
						 ? PQgetvalue(r, 0, 0)
						 : "";
			PQclear(r);
		}
		PQfinish(h);
		return err;
	}

	// A new, empty database; returns its URI ("" on failure).
	std::string create_db()
	{
		std::string name = "t" + std::to_string(++n_dbs);
		return sql("CREATE DATABASE " + name).empty() ? uri(name) : "";
	}

      private:
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	unsigned n_dbs = 0;

	static int rm_entry(const char *path, const struct stat *, int, struct FTW *)
	{
		return remove(path);
	}

	// Runs argv as the server's user, output to log; wait: its exit status, else its pid.
	int run(const std::vector<std::string> &argv, const std::string &log, bool wait)
	{
		pid_t parent = getpid(), p = fork();
		if (p == 0) {
			int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			if (gid != (gid_t)-1 && (setgroups(0, nullptr) != 0 || setgid(gid) != 0))
				_exit(126);
			if (uid != (uid_t)-1 && setuid(uid) != 0)
				_exit(126);
			// After setuid, which clears it: an immediate shutdown when the test dies.
			prctl(PR_SET_PDEATHSIG, SIGQUIT);
			if (getppid() != parent)
				_exit(125);
			std::vector<char *> a;
			for (const std::string &s : argv)
				a.push_back(const_cast<char *>(s.c_str()));
			a.push_back(nullptr);
			execv(a[0], a.data());
			_exit(127);
		}
		if (!wait || p < 0)
			return p;
		int st;
		waitpid(p, &st, 0);
		return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	}
};

// One server for the whole test binary, started on first use.
inline Server &server()
{
	static Server s;
	static bool tried, up;
	if (!tried) {
		tried = true;
		up = s.init() && s.start();
		if (!up && s.why_not.empty())
			s.why_not =
				"the PostgreSQL server did not start (" + s.dir + "/server.log)";
	}
	return s;
}

} // namespace sgpg

#endif
