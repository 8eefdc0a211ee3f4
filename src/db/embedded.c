/* The embedded PostgreSQL: a private cluster from the Debian binaries, on a
 * Unix socket only. Blocking by design: it runs before any loop does.
 *
 * PostgreSQL refuses to run as root, so when we are root every server
 * binary (initdb, pg_ctl) runs as the `postgres` system user: fork, drop
 * privileges, execv, waitpid. pg_ctl start -w -l <log> returns once the
 * server accepts connections, with the postmaster detached (pg_ctl puts it
 * in its own session and points its output at the log), so whoever started
 * us - a terminal, ctest - never waits on it. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "db/db.h"

#define PG_PORT 5432
/* sun_path is 108 bytes; the socket file is <dir>/.s.PGSQL.5432. */
#define SOCKET_PATH_MAX 107

/* The user the server binaries run as: NULL when we are not root (then they
 * run as ourselves). */
static const struct passwd *server_user(void) {
  if (geteuid() != 0)
    return NULL;
  return getpwnam("postgres");
}

/* Runs argv[0] with argv, as the postgres user when we are root, with stdin
 * from /dev/null and stdout+stderr captured into out (NUL-terminated, the
 * tail kept when it overflows). Returns the exit status, or -1. */
static int run(char *const argv[], char *out, size_t outlen) {
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  const struct passwd *pw = server_user();
  if (geteuid() == 0 && !pw) {
    close(fds[0]);
    close(fds[1]);
    snprintf(out, outlen, "running as root but there is no `postgres` user");
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    sigset_t none; /* main holds SIGTERM/SIGINT/SIGHUP during start-up */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    /* Nothing of ours (listen sockets, the loop's fds, ctest's pipes) may
     * leak into the postmaster, which outlives this child. */
    for (int fd = 3; fd < 1024; fd++) close(fd);
    if (pw) {
      if (setgid(pw->pw_gid) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
          setuid(pw->pw_uid) != 0) {
        perror("dropping privileges");
        _exit(127);
      }
      setenv("HOME", pw->pw_dir, 1);
      setenv("USER", pw->pw_name, 1);
    }
    /* Every path we pass is absolute; "/" is readable by anyone, unlike
     * root's working directory. */
    if (chdir("/") != 0)
      _exit(127);
    execv(argv[0], argv);
    perror(argv[0]);
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0;
  char chunk[512];
  for (;;) {
    ssize_t n = read(fds[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (ssize_t i = 0; i < n && outlen > 1; i++) {
      if (len == outlen - 1) {
        memmove(out, out + 1, len - 1);
        len--;
      }
      out[len++] = chunk[i];
    }
  }
  if (outlen)
    out[len] = '\0';
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    /* ECHILD: a SIGCHLD handler that reaps with waitpid(-1) took the
     * status. The child has finished (its output ended); what it did is
     * checked by what follows (connecting, or the pid file). */
    if (errno == ECHILD)
      return 0;
    if (errno != EINTR)
      return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = '\0';
}

static int mkdir_p(const char *path, mode_t mode) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof(tmp), "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  if (mkdir(tmp, mode) != 0 && errno != EEXIST)
    return -errno;
  return 0;
}

static int give_to_server_user(const char *path) {
  const struct passwd *pw = server_user();
  if (!pw)
    return 0;
  return chown(path, pw->pw_uid, pw->pw_gid) == 0 ? 0 : -errno;
}

/* Whether the server user can reach path: every parent must be searchable
 * by it (a checkout under /root is not). Checked in a child that drops to
 * that user, since access(2) as root would say yes. */
static int server_user_reaches(const char *path) {
  const struct passwd *pw = server_user();
  if (!pw)
    return 1;
  pid_t pid = fork();
  if (pid < 0)
    return 1;
  if (pid == 0) {
    if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
      _exit(2);
    _exit(access(path, X_OK) == 0 ? 0 : 1);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int file_exists(const char *dir, const char *name) {
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

static int pg_ctl(db_embedded_t *e, const char *action, char *out, size_t outlen) {
  char bin[PATH_MAX], log[PATH_MAX];
  snprintf(bin, sizeof(bin), "%s/pg_ctl", LOOPLAB_PG_BINDIR);
  snprintf(log, sizeof(log), "%s/postmaster.log", e->data_dir);
  if (strcmp(action, "start") == 0) {
    char *argv[] = {bin, "start", "-w", "-t", "60", "-D", e->data_dir, "-l", log, NULL};
    return run(argv, out, outlen);
  }
  if (strcmp(action, "stop") == 0) {
    char *argv[] = {bin, "stop", "-w", "-t", "60", "-m", "fast", "-D", e->data_dir, NULL};
    return run(argv, out, outlen);
  }
  char *argv[] = {bin, (char *)action, "-D", e->data_dir, NULL};
  return run(argv, out, outlen);
}

static int initdb(db_embedded_t *e, char *err, size_t errlen) {
  char bin[PATH_MAX], out[2048];
  snprintf(bin, sizeof(bin), "%s/initdb", LOOPLAB_PG_BINDIR);
  /* Trust on the Unix socket only: the socket lives in a directory only
   * the server user (and root) can enter, and there is no TCP listener
   * (host connections are rejected even if one were configured). */
  char *argv[] = {bin, "-D", e->data_dir, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=reject", "-E", "UTF8", "--locale=C",
                  /* Tests throw their cluster away; a server keeps the
                   * default fsync of the new cluster. */
                  e->fast ? "--no-sync" : NULL, NULL};
  LOG_INFO(NULL, "initializing the embedded PostgreSQL in %s", e->data_dir);
  int rc = run(argv, out, sizeof(out));
  if (rc != 0) {
    trim(out);
    core_errf(err, errlen, "initdb failed (%d): %s", rc, out);
    return DB_EUNAVAIL;
  }
  /* Our settings live in their own file, rewritten at every start. */
  char conf[PATH_MAX];
  snprintf(conf, sizeof(conf), "%s/postgresql.conf", e->data_dir);
  FILE *f = fopen(conf, "a");
  if (!f) {
    core_errf(err, errlen, "%s: %s", conf, strerror(errno));
    return DB_EUNAVAIL;
  }
  fputs(
      "\n# Written by looplab: its settings, rewritten at every start.\n"
      "include_if_exists = 'looplab.conf'\n",
      f);
  fclose(f);
  return 0;
}

/* Writes looplab.conf: where to listen and how big to be. */
static int write_conf(db_embedded_t *e, char *err, size_t errlen) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/looplab.conf", e->data_dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    core_errf(err, errlen, "%s: %s", path, strerror(errno));
    return DB_EUNAVAIL;
  }
  fprintf(f,
          "listen_addresses = ''\n"
          "unix_socket_directories = '%s'\n"
          "unix_socket_permissions = 0700\n"
          "port = %d\n"
          /* 8 workers x 8 connections, the peers and the tests: room for all. */
          "max_connections = 200\n"
          "shared_buffers = 128MB\n"
          "work_mem = 8MB\n"
          "maintenance_work_mem = 128MB\n"
          "logging_collector = off\n"
          "log_min_messages = warning\n",
          e->socket_dir, e->port);
  if (e->fast)
    /* Throwaway test clusters only: losing them on a crash costs nothing,
     * and durable commits would dominate the tests' time. */
    fputs("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n", f);
  fclose(f);
  give_to_server_user(path);
  return 0;
}

/* The socket directory: the data directory itself (private to the server
 * user) when its socket path fits in sun_path, else a fresh directory under
 * /tmp that db_embedded_stop removes. */
static int pick_socket_dir(db_embedded_t *e, char *err, size_t errlen) {
  if (strlen(e->data_dir) + strlen("/.s.PGSQL.5432") <= SOCKET_PATH_MAX) {
    snprintf(e->socket_dir, sizeof(e->socket_dir), "%s", e->data_dir);
    e->tmp_socket_dir = 0;
    return 0;
  }
  snprintf(e->socket_dir, sizeof(e->socket_dir), "/tmp/looplab-pg-XXXXXX");
  if (!mkdtemp(e->socket_dir)) {
    core_errf(err, errlen, "mkdtemp: %s", strerror(errno));
    return DB_EUNAVAIL;
  }
  e->tmp_socket_dir = 1;
  give_to_server_user(e->socket_dir);
  return 0;
}

/* Line 5 of postmaster.pid: the socket directory of a running postmaster. */
static void old_socket_dir(const char *data_dir, char *out, size_t outlen) {
  char path[PATH_MAX], line[1024];
  out[0] = '\0';
  snprintf(path, sizeof(path), "%s/postmaster.pid", data_dir);
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  for (int i = 1; fgets(line, sizeof(line), f); i++) {
    if (i != 5)
      continue;
    trim(line);
    snprintf(out, outlen, "%s", line);
    break;
  }
  fclose(f);
}

/* The state letter ('R', 'S', 'Z'...) and start time (clock ticks after
 * boot, field 22) of pid from /proc/<pid>/stat. 0, or -1 when there is no
 * such process. */
static int proc_stat(long pid, char *state, unsigned long long *start) {
  char path[64], line[1024];
  snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  int ok = fgets(line, sizeof(line), f) != NULL;
  fclose(f);
  const char *p = ok ? strrchr(line, ')') : NULL; /* the name may hold spaces */
  if (!p || sscanf(p + 1,
                   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d"
                   " %*d %*d %llu",
                   state, start) != 2)
    return -1;
  return 0;
}

/* 1 when postmaster.pid names a process that died but was not reaped yet:
 * a postmaster killed with SIGKILL is re-parented to init, and until init
 * reaps it, kill(pid, 0) - which pg_ctl and the postmaster's own lock check
 * rely on - still says it runs. */
static int postmaster_zombie(const char *data_dir) {
  char path[PATH_MAX], state;
  unsigned long long start;
  snprintf(path, sizeof(path), "%s/postmaster.pid", data_dir);
  FILE *f = fopen(path, "r");
  long pid = 0;
  if (f) {
    if (fscanf(f, "%ld", &pid) != 1)
      pid = 0;
    fclose(f);
  }
  return pid > 0 && proc_stat(pid, &state, &start) == 0 && state == 'Z';
}

/* ---- the owner lock ----
 *
 * One looplab owns a data directory (and the postmaster running in it) at a
 * time. The owner holds an exclusive flock(2) on the directory for as long
 * as it runs (the kernel drops it when the process dies, however it dies)
 * and records itself in <data dir>/looplab.owner as "<pid> <start time>\n",
 * the start time being field 22 of /proc/<pid>/stat, so that a pid reused
 * by another process is not mistaken for the owner. A directory is refused
 * while the flock is held or the recorded pid runs with the recorded start
 * time; otherwise its owner is gone and the directory (with a postmaster
 * it left running) may be taken over. The lock is on the directory, not on
 * the file, because initdb wants an empty directory: the file is written
 * once PG_VERSION exists. */
#define OWNER_FILE "looplab.owner"

static int read_owner(const char *data_dir, long *pid, unsigned long long *start) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/" OWNER_FILE, data_dir);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  int n = fscanf(f, "%ld %llu", pid, start);
  fclose(f);
  return n == 2 && *pid > 0 ? 0 : -1;
}

/* 1 when the owner recorded in data_dir is a live process other than us. */
static int owner_alive(const char *data_dir, long *pid) {
  unsigned long long start, now;
  char state;
  if (read_owner(data_dir, pid, &start) != 0 || *pid == (long)getpid())
    return 0;
  return proc_stat(*pid, &state, &now) == 0 && state != 'Z' && now == start;
}

static int claim_owner(db_embedded_t *e, char *err, size_t errlen) {
  long pid = 0;
  int fd = open(e->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    core_errf(err, errlen, "%s: %s", e->data_dir, strerror(errno));
    return DB_EUNAVAIL;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int busy = errno == EWOULDBLOCK;
    if (busy && read_owner(e->data_dir, &pid, &(unsigned long long){0}) != 0)
      pid = 0;
    if (!busy)
      core_errf(err, errlen, "flock %s: %s", e->data_dir, strerror(errno));
    else if (pid > 0)
      core_errf(err, errlen,
                "%s is in use by another looplab (pid %ld); refusing to share "
                "or take over its PostgreSQL",
                e->data_dir, pid);
    else
      core_errf(err, errlen,
                "%s is in use by another looplab; refusing to share or take "
                "over its PostgreSQL",
                e->data_dir);
    close(fd);
    return DB_EUNAVAIL;
  }
  if (owner_alive(e->data_dir, &pid)) {
    core_errf(err, errlen,
              "%s is in use by another looplab (pid %ld); refusing to share "
              "or take over its PostgreSQL",
              e->data_dir, pid);
    close(fd);
    return DB_EUNAVAIL;
  }
  e->owner_fd = fd;
  e->owner = 1;
  return 0;
}

/* Records us in looplab.owner (once the directory holds a cluster). */
static int write_owner(db_embedded_t *e, char *err, size_t errlen) {
  char path[PATH_MAX], state;
  unsigned long long start = 0;
  snprintf(path, sizeof(path), "%s/" OWNER_FILE, e->data_dir);
  if (proc_stat((long)getpid(), &state, &start) != 0)
    start = 0;
  FILE *f = fopen(path, "w");
  if (!f || fprintf(f, "%ld %llu\n", (long)getpid(), start) < 0 || fflush(f) != 0 ||
      fsync(fileno(f)) != 0) {
    core_errf(err, errlen, "%s: %s", path, strerror(errno));
    if (f)
      fclose(f);
    return DB_EUNAVAIL;
  }
  fclose(f);
  return 0;
}

static void unlink_owner_file(db_embedded_t *e) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/" OWNER_FILE, e->data_dir);
  unlink(path);
}

static void release_owner(db_embedded_t *e) {
  if (!e->owner)
    return;
  unlink_owner_file(e);
  close(e->owner_fd);
  e->owner = 0;
  e->owner_fd = -1;
}

/* A postmaster left running in data_dir by an earlier run that died (the
 * owner lock says its looplab is gone) is stopped, not reused: its settings
 * and socket may differ from ours, and a fresh start is cheap. */
static int stop_leftover(db_embedded_t *e, int leftover, char *err, size_t errlen) {
  char out[1024], path[PATH_MAX];
  if (!file_exists(e->data_dir, "postmaster.pid"))
    return 0;
  if (postmaster_zombie(e->data_dir)) {
    /* Dead: its lock file is stale. (If its children still hold the shared
     * memory, the next start says so and fails, as it should.) */
    char sock[1024];
    old_socket_dir(e->data_dir, sock, sizeof(sock));
    if (sock[0]) {
      snprintf(path, sizeof(path), "%s/.s.PGSQL.%d.lock", sock, PG_PORT);
      unlink(path);
      if (strncmp(sock, "/tmp/looplab-pg-", 16) == 0) {
        snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", sock, PG_PORT);
        unlink(path);
        rmdir(sock);
      }
    }
    snprintf(path, sizeof(path), "%s/postmaster.pid", e->data_dir);
    unlink(path);
    return 0;
  }
  if (pg_ctl(e, "status", out, sizeof(out)) != 0)
    return 0; /* stale pid file */
  char sock[1024];
  old_socket_dir(e->data_dir, sock, sizeof(sock));
  if (leftover)
    LOG_WARN(NULL, "stopping a PostgreSQL left running in %s", e->data_dir);
  if (pg_ctl(e, "stop", out, sizeof(out)) != 0) {
    trim(out);
    core_errf(err, errlen, "could not stop the leftover postmaster: %s", out);
    return DB_EUNAVAIL;
  }
  if (strncmp(sock, "/tmp/looplab-pg-", 16) == 0)
    rmdir(sock);
  return 0;
}

static void conninfo_value(char *dst, size_t len, const char *v) {
  size_t j = 0;
  if (len < 3)
    return;
  dst[j++] = '\'';
  for (; *v && j + 3 < len; v++) {
    if (*v == '\'' || *v == '\\')
      dst[j++] = '\\';
    dst[j++] = *v;
  }
  dst[j++] = '\'';
  dst[j] = '\0';
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen) {
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok)
    core_errf(err, errlen, "%s", PQresultErrorMessage(r));
  PQclear(r);
  return ok ? 0 : DB_EQUERY;
}

static int create_database(db_embedded_t *e, const char *dbname, char *err,
                           size_t errlen) {
  char host[1100], ci[1300];
  conninfo_value(host, sizeof(host), e->socket_dir);
  snprintf(ci, sizeof(ci), "host=%s port=%d dbname=postgres user=postgres", host,
           e->port);
  PGconn *c = PQconnectdb(ci);
  int rc = DB_EUNAVAIL;
  if (PQstatus(c) != CONNECTION_OK) {
    core_errf(err, errlen, "%s", PQerrorMessage(c));
    goto fail;
  }
  const char *params[1] = {dbname};
  PGresult *r = PQexecParams(c, "select 1 from pg_database where datname = $1", 1, NULL,
                             params, NULL, NULL, 0);
  int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
  PQclear(r);
  rc = 0;
  if (!exists) {
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", dbname);
    rc = exec_ok(c, sql, err, errlen);
  }
fail:
  PQfinish(c);
  return rc;
}

/* Resolves data_dir to an absolute path: every binary runs from "/".
 * UV_ENAMETOOLONG when it does not fit in out. */
static int absolute(const char *dir, char *out, size_t outlen) {
  char cwd[PATH_MAX] = "";
  if (dir[0] != '/' && !getcwd(cwd, sizeof(cwd)))
    return -errno;
  size_t clen = strlen(cwd), dlen = strlen(dir);
  if (clen + 1 + dlen + 1 > outlen)
    return UV_ENAMETOOLONG;
  if (clen) {
    memcpy(out, cwd, clen);
    out[clen++] = '/';
  }
  memcpy(out + clen, dir, dlen + 1);
  size_t n = strlen(out);
  while (n > 1 && out[n - 1] == '/') out[--n] = '\0';
  return 0;
}

int db_embedded_conninfo(const db_embedded_t *e, const char *dbname, char *out,
                         size_t outlen) {
  char host[1100];
  conninfo_value(host, sizeof(host), e->socket_dir);
  int n = snprintf(out, outlen, "host=%s port=%d dbname=%s user=postgres", host, e->port,
                   dbname);
  return n >= 0 && (size_t)n < outlen ? 0 : DB_EUNAVAIL;
}

int db_embedded_start(db_embedded_t *e, const char *data_dir, double scale, char *err,
                      size_t errlen) {
  char out[2048];
  int fast = e->fast;
  memset(e, 0, sizeof(*e));
  e->fast = fast;
  e->port = PG_PORT;
  e->owner_fd = -1;
  if (absolute(data_dir, e->data_dir, sizeof(e->data_dir)) != 0) {
    core_errf(err, errlen, "%s: cannot resolve to an absolute path", data_dir);
    return DB_EUNAVAIL;
  }
  int rc = mkdir_p(e->data_dir, 0700);
  if (rc != 0) {
    core_errf(err, errlen, "%s: %s", e->data_dir, strerror(-rc));
    return DB_EUNAVAIL;
  }
  /* initdb and the server need the data directory to be theirs. */
  if (give_to_server_user(e->data_dir) != 0) {
    core_errf(err, errlen, "chown %s: %s", e->data_dir, strerror(errno));
    return DB_EUNAVAIL;
  }
  if (!server_user_reaches(e->data_dir)) {
    /* A checkout under /root, say: use a folder of our own under /var/tmp,
     * named after the requested one so each checkout keeps its database. */
    uint64_t h = 1469598103934665603ull;
    for (const char *q = e->data_dir; *q; q++)
      h = (h ^ (unsigned char)*q) * 1099511628211ull;
    char alt[sizeof(e->data_dir)];
    snprintf(alt, sizeof(alt), "/var/tmp/looplab-pg-%016llx", (unsigned long long)h);
    LOG_WARN(NULL, "the postgres user cannot reach %s; using %s instead", e->data_dir,
             alt);
    snprintf(e->data_dir, sizeof(e->data_dir), "%s", alt);
    if ((rc = mkdir_p(e->data_dir, 0700)) != 0 || give_to_server_user(e->data_dir) != 0 ||
        !server_user_reaches(e->data_dir)) {
      core_errf(err, errlen, "%s: not usable by the postgres user", e->data_dir);
      return DB_EUNAVAIL;
    }
  }
  if ((rc = claim_owner(e, err, errlen)) != 0)
    return rc;
  if ((rc = stop_leftover(e, 1, err, errlen)) != 0)
    goto fail;
  if (!file_exists(e->data_dir, "PG_VERSION")) {
    unlink_owner_file(e); /* a dead owner's, from a failed first start */
    if ((rc = initdb(e, err, errlen)) != 0)
      goto fail;
  }
  if ((rc = write_owner(e, err, errlen)) != 0)
    goto fail;
  if ((rc = pick_socket_dir(e, err, errlen)) != 0)
    goto fail;
  if ((rc = write_conf(e, err, errlen)) != 0)
    goto fail;
  rc = pg_ctl(e, "start", out, sizeof(out));
  if (rc != 0) {
    trim(out);
    core_errf(err, errlen, "pg_ctl start failed (%d): %s (see %s/postmaster.log)", rc,
              out, e->data_dir);
    rc = DB_EUNAVAIL;
    goto fail;
  }
  e->started = 1;
  LOG_INFO(NULL, "embedded PostgreSQL started in %s", e->data_dir);
  if ((rc = create_database(e, "looplab", err, errlen)) != 0)
    goto fail;
  db_embedded_conninfo(e, "looplab", e->conninfo, sizeof(e->conninfo));
  if ((rc = db_schema_load(e->conninfo, scale, err, errlen)) != 0)
    goto fail;
  return 0;

fail:
  db_embedded_stop(e);
  return rc;
}

int db_embedded_create_db(db_embedded_t *e, const char *dbname, char *err,
                          size_t errlen) {
  return create_database(e, dbname, err, errlen);
}

void db_embedded_stop(db_embedded_t *e) {
  char out[1024];
  if (e->started) {
    if (pg_ctl(e, "stop", out, sizeof(out)) != 0) {
      trim(out);
      LOG_ERROR(NULL, "pg_ctl stop failed: %s", out);
    } else {
      LOG_INFO(NULL, "embedded PostgreSQL stopped");
    }
    e->started = 0;
  }
  if (e->tmp_socket_dir) {
    rmdir(e->socket_dir);
    e->tmp_socket_dir = 0;
  }
  release_owner(e);
}

int db_embedded_stop_dir(const char *data_dir, char *err, size_t errlen) {
  db_embedded_t e;
  memset(&e, 0, sizeof(e));
  e.owner_fd = -1;
  if (absolute(data_dir, e.data_dir, sizeof(e.data_dir)) != 0)
    return DB_EUNAVAIL;
  if (!file_exists(e.data_dir, "PG_VERSION"))
    return 0;
  int rc = claim_owner(&e, err, errlen);
  if (rc == 0)
    rc = stop_leftover(&e, 0, err, errlen);
  release_owner(&e);
  return rc;
}
