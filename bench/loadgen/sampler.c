/* The server's footprint, read from /proc the way the reference study had
 * to do by hand: every process whose ancestry reaches a given pid (the
 * primary, its workers, an embedded PostgreSQL and its backends) is summed.
 * CPU includes each live process's reaped children (cutime, cstime), so a
 * worker that died and was re-forked still counts; it does not double
 * count, since a reaped child is no longer in the tree. */
#include "load.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PROCS 65536

typedef struct proc_s {
  int pid, ppid;
  double cpu_s;
  uint64_t rss;
} proc_t;

/* Reads /proc/PID/stat: the parent, CPU seconds and RSS. The command name
 * may contain spaces and parentheses, so fields are counted from the last
 * ')'. */
static int read_stat(int pid, proc_t *p, double ticks, long page) {
  char path[64], buf[1024], *s;
  unsigned long long ut, st, cut, cst;
  long long rss;
  int ppid;
  FILE *f;
  size_t n;

  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  s = strrchr(buf, ')');
  if (s == NULL)
    return -1;
  /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
   * utime stime cutime cstime priority nice threads itreal starttime vsize
   * rss */
  if (sscanf(s + 2,
             "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu %*d %*d %*d "
             "%*d %*u %*u %lld",
             &ppid, &ut, &st, &cut, &cst, &rss) != 6)
    return -1;
  p->pid = pid;
  p->ppid = ppid;
  p->cpu_s = (double)(ut + st + cut + cst) / ticks;
  p->rss = (uint64_t)(rss > 0 ? rss : 0) * (uint64_t)page;
  return 0;
}

/* Rss and Pss from smaps_rollup, in bytes; 0 when unreadable (another
 * user's process without privilege, or a kernel before 4.14). */
static void read_rollup(int pid, uint64_t *rss, uint64_t *pss) {
  char path[64], line[256];
  unsigned long long kb;
  FILE *f;

  snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return;
  while (fgets(line, sizeof(line), f)) {
    if (sscanf(line, "Rss: %llu kB", &kb) == 1)
      *rss = kb * 1024;
    else if (sscanf(line, "Pss: %llu kB", &kb) == 1)
      *pss = kb * 1024;
  }
  fclose(f);
}

static int in_tree(const proc_t *all, int n, int idx, const int *roots, int nroots) {
  /* Walks up the parent chain; the depth bound guards against a pid reused
   * into a cycle while we read. */
  int pid = all[idx].pid;
  for (int depth = 0; depth < 64 && pid > 1; depth++) {
    int ppid = -1;
    for (int r = 0; r < nroots; r++)
      if (pid == roots[r])
        return 1;
    for (int i = 0; i < n; i++)
      if (all[i].pid == pid) {
        ppid = all[i].ppid;
        break;
      }
    pid = ppid;
  }
  return 0;
}

void load_sample_tree(const int *pids, int npids, load_sample_t *out) {
  double ticks = (double)sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  proc_t *all;
  struct dirent *de;
  DIR *d;
  int n = 0;

  memset(out, 0, sizeof(*out));
  all = malloc(sizeof(*all) * MAX_PROCS);
  d = opendir("/proc");
  if (all == NULL || d == NULL)
    goto done;
  while ((de = readdir(d)) != NULL && n < MAX_PROCS) {
    if (!isdigit((unsigned char)de->d_name[0]))
      continue;
    if (read_stat(atoi(de->d_name), &all[n], ticks, page) == 0)
      n++;
  }
  closedir(d);
  for (int i = 0; i < n; i++) {
    uint64_t rss = 0, pss = 0;
    if (!in_tree(all, n, i, pids, npids))
      continue;
    for (int r = 0; r < npids; r++)
      if (all[i].pid == pids[r])
        out->ok = 1;
    read_rollup(all[i].pid, &rss, &pss);
    out->procs++;
    out->rss += rss ? rss : all[i].rss;
    out->pss += pss;
    out->cpu_s += all[i].cpu_s;
  }
done:
  free(all);
}
