/*
 * gridx-stage: the first program of every job container, between the init process and the job.
 *
 *     gridx-stage FROM TO -- COMMAND [ARG...]
 *
 * The job's working directory TO is a size-capped tmpfs, and a tmpfs only exists once the
 * container runs, so the worker cannot put the job's files there through the Docker API. It puts
 * them in FROM instead (a staging volume the job cannot write to), and this program copies them
 * into TO, then replaces itself with COMMAND, looked up in PATH as a shell would.
 *
 * It is static and needs nothing from the image, so jobs can use images with no shell at all.
 * It runs as the job's user, with the job's limits: a copy past the tmpfs size fails with ENOSPC.
 *
 * Exit status when it cannot start the job: 125 (the files could not be staged), 126 (COMMAND is
 * not executable), 127 (COMMAND was not found); otherwise the status is the job's own.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static const char *prog = "gridx";

/* Deeper than the worker's archives ever go (64 levels): a guard, so the stack stays small. */
#define MAX_DEPTH 128

static void fail(int status, const char *what, const char *path, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    fprintf(stderr,
            "%s: the job's files do not fit in its working directory (%s): the worker's owner "
            "sets its size with 'gridx work --max-disk'; send fewer or smaller files\n",
            prog, path);
  } else if (err == EFBIG) {
    fprintf(stderr, "%s: cannot copy %s: a job's files may be at most 1 GiB each\n", prog, path);
  } else if (err == ENOMEM) {
    fprintf(stderr,
            "%s: out of memory while copying the job's files (%s): the working directory is held "
            "in memory; ask for more with --memory\n",
            prog, path);
  } else {
    fprintf(stderr, "%s: cannot %s %s: %s\n", prog, what, path, strerror(err));
  }
  exit(status);
}

static void join(char *out, const char *dir, const char *name) {
  if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) fail(125, "copy", name, ENAMETOOLONG);
}

static void copy_file(const char *from, const char *to, const struct stat *st) {
  mode_t mode = (st->st_mode & 0777) | 0600;
  int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) fail(125, "read", from, errno);
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (out < 0) fail(125, "create", to, errno);
  static char buf[1 << 16];
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(125, "read", from, errno);
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail(125, "write", to, errno);
      done += w;
    }
  }
  /* Keep the modification time: tools like make compare them. */
  struct timespec times[2] = {st->st_atim, st->st_mtim};
  futimens(out, times);
  if (close(out) != 0) fail(125, "write", to, errno);
  close(in);
}

/* Copies the directories and regular files under `from` into the existing directory `to`. */
static void copy_tree(const char *from, const char *to, int depth) {
  if (depth > MAX_DEPTH) {
    fprintf(stderr, "%s: cannot copy %s: the job's files are nested more than %d directories deep\n",
            prog, from, MAX_DEPTH);
    exit(125);
  }
  DIR *dir = opendir(from);
  if (!dir) {
    if (errno == ENOENT) return; /* no staged files */
    fail(125, "read", from, errno);
  }
  struct dirent *e;
  char src[PATH_MAX], dst[PATH_MAX];
  while ((errno = 0, e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    join(src, from, e->d_name);
    join(dst, to, e->d_name);
    struct stat st;
    if (lstat(src, &st) != 0) fail(125, "read", src, errno);
    if (S_ISDIR(st.st_mode)) {
      if (mkdir(dst, (st.st_mode & 0777) | 0700) != 0 && errno != EEXIST) fail(125, "create", dst, errno);
      copy_tree(src, dst, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      copy_file(src, dst, &st);
    }
    /* Anything else cannot come from the worker's archive; it is left out. */
  }
  if (errno != 0) fail(125, "read", from, errno);
  closedir(dir);
}

/* execvp without its quirks: PATH from the job's environment, and a clear message when it fails. */
static void run(char **argv) {
  const char *cmd = argv[0];
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  int err = ENOENT;
  if (!*cmd) {
    /* nothing to run: reported as not found */
  } else if (strchr(cmd, '/')) {
    execve(cmd, argv, environ);
    err = errno;
  } else {
    char full[PATH_MAX];
    for (const char *p = path; *p;) {
      const char *end = strchr(p, ':');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      if (len > 0 && snprintf(full, sizeof full, "%.*s/%s", (int)len, p, cmd) < (int)sizeof full) {
        execve(full, argv, environ);
        /* Keep looking past a missing file; remember a file that is there but will not run. */
        if (errno != ENOENT && errno != ENOTDIR) err = errno;
      }
      p += len + (end ? 1 : 0);
    }
  }
  if (err == ENOENT) {
    fprintf(stderr, "%s: %s: command not found in the image (PATH=%s)\n", prog, cmd, path);
    exit(127);
  }
  fprintf(stderr, "%s: %s: cannot run it: %s\n", prog, cmd, strerror(err));
  exit(126);
}

int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: gridx-stage FROM TO -- COMMAND [ARG...]\n");
    return 125;
  }
  /* Past the file size limit, a write fails with EFBIG (reported) instead of killing us. */
  void (*inherited)(int) = signal(SIGXFSZ, SIG_IGN);
  copy_tree(argv[1], argv[2], 0);
  /* The job starts with the disposition it was given, as if this program had not been there. */
  signal(SIGXFSZ, inherited == SIG_ERR ? SIG_DFL : inherited);
  run(argv + 4);
  return 127;
}
