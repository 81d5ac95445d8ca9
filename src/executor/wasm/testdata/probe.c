/*
 * A test program for the WebAssembly executor. With no mode it reports every source of difference a
 * program can reach: both clocks, random bytes, environment, arguments, stdin, the files it can see; and
 * it writes /outputs/time.txt. Other modes: "exit N", "trap", "oob" (out-of-bounds load), "loop"
 * (never ends), "grow N" (allocate N MiB), "write-inputs" (try to write into /inputs), "flood N" (write N MiB
 * to stdout and N/16 MiB to stderr, then exit 0), "fill N" (write N MiB to /outputs/fill.bin), "sparse" (seek
 * 4 GiB into /outputs/sparse.bin and write a byte), "escape" (try to write outside /outputs and read
 * /etc/passwd), "symlink" (link /outputs/passwd to /etc/passwd), "write PATH TEXT" (write a file),
 * "cat PATH" (print a file), "hog" (allocate and touch 1 MiB blocks until malloc fails, then print how many
 * and exit 12), "random" (print 16 random bytes in hex), "nest N" (make N folders nested in /outputs),
 * "digest DIR" (print "PATH FNV-1a-64" of every file under DIR, in name order, to stdout and
 * /outputs/digests.txt). The same source builds natively for the Docker executor's tests.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void print_clock(const char *name, clockid_t id) {
  struct timespec t, r;
  clock_gettime(id, &t);
  clock_getres(id, &r);
  printf("%s %lld.%09ld res %ld\n", name, (long long)t.tv_sec, t.tv_nsec, r.tv_nsec);
}

static int report(int argc, char **argv) {
  for (int i = 0; i < argc; i++) printf("arg[%d]=%s\n", i, argv[i]);
  for (char **e = environ; *e; e++) printf("env %s\n", *e);
  print_clock("realtime", CLOCK_REALTIME);
  print_clock("monotonic", CLOCK_MONOTONIC);
  print_clock("monotonic", CLOCK_MONOTONIC);
  printf("time() %lld\n", (long long)time(NULL));

  unsigned char bytes[16];
  if (getentropy(bytes, sizeof bytes) != 0) return 10;
  printf("random ");
  for (size_t i = 0; i < sizeof bytes; i++) printf("%02x", bytes[i]);
  printf(" rand() %d\n", rand());

  char buffer[64];
  printf("stdin bytes %zd\n", read(0, buffer, sizeof buffer));

  struct stat st;
  if (stat("/inputs/message.txt", &st) == 0) {
    FILE *in = fopen("/inputs/message.txt", "r");
    size_t n = in ? fread(buffer, 1, sizeof buffer - 1, in) : 0;
    buffer[n] = 0;
    if (in) fclose(in);
    printf("input %s size %lld mtime %lld ino %llu\n", buffer, (long long)st.st_size, (long long)st.st_mtime,
           (unsigned long long)st.st_ino);
  }
  printf("stat / %s\n", stat("/", &st) == 0 ? "visible" : strerror(errno));
  printf("stat /etc/passwd %s\n", stat("/etc/passwd", &st) == 0 ? "visible" : strerror(errno));

  FILE *out = fopen("/outputs/time.txt", "w");
  if (!out) {
    fprintf(stderr, "cannot open /outputs/time.txt: %s\n", strerror(errno));
    return 11;
  }
  fprintf(out, "%lld\n", (long long)time(NULL));
  fclose(out);
  if (stat("/outputs/time.txt", &st) == 0) printf("output mtime %lld\n", (long long)st.st_mtime);
  fprintf(stderr, "probe done\n");
  return 0;
}

/* FNV-1a, 64 bits: a digest the tests can compute too, with no library on either side. */
static int digest_file(const char *path, FILE *out) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("cannot read %s: %s\n", path, strerror(errno));
    return 19;
  }
  unsigned long long hash = 14695981039346656037ULL;
  unsigned char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, f)) > 0) {
    for (size_t i = 0; i < n; i++) hash = (hash ^ buffer[i]) * 1099511628211ULL;
  }
  fclose(f);
  printf("%s %016llx\n", path, hash);
  fprintf(out, "%s %016llx\n", path, hash);
  return 0;
}

static int digest_tree(const char *dir, FILE *out) {
  struct dirent **names;
  int count = scandir(dir, &names, NULL, alphasort);
  if (count < 0) {
    printf("cannot list %s: %s\n", dir, strerror(errno));
    return 19;
  }
  int status = 0;
  for (int i = 0; i < count; i++) {
    const char *name = names[i]->d_name;
    if (status == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, name);
      struct stat st;
      if (stat(path, &st) != 0) status = 19;
      else status = S_ISDIR(st.st_mode) ? digest_tree(path, out) : digest_file(path, out);
    }
    free(names[i]);
  }
  free(names);
  return status;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "report";
  if (strcmp(mode, "exit") == 0) return argc > 2 ? atoi(argv[2]) : 0;
  if (strcmp(mode, "trap") == 0) __builtin_trap();
  if (strcmp(mode, "oob") == 0) return *(volatile int *)0xFFFFFFF0u;
  if (strcmp(mode, "loop") == 0) {
    for (volatile unsigned i = 0;; i++) {
    }
  }
  if (strcmp(mode, "grow") == 0) {
    size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 1;
    char *volatile p = malloc(mib << 20); /* volatile: otherwise clang drops the unused allocation */
    if (!p) {
      printf("malloc %zu MiB failed\n", mib);
      return 12;
    }
    memset(p, 1, mib << 20);
    printf("malloc %zu MiB ok\n", mib);
    return 0;
  }
  if (strcmp(mode, "hog") == 0) {
    size_t blocks = 0;
    for (char *volatile p; (p = malloc(1 << 20)) != NULL; blocks++) memset(p, 1, 1 << 20); /* volatile: kept */
    printf("hog stopped after %zu MiB\n", blocks);
    return 12;
  }
  if (strcmp(mode, "random") == 0) {
    unsigned char bytes[16];
    if (getentropy(bytes, sizeof bytes) != 0) return 10;
    for (size_t i = 0; i < sizeof bytes; i++) printf("%02x", bytes[i]);
    printf("\n");
    return 0;
  }
  if (strcmp(mode, "nest") == 0) {
    int depth = argc > 2 ? atoi(argv[2]) : 1;
    if (chdir("/outputs") != 0) return 15;
    for (int i = 0; i < depth; i++) {
      if (mkdir("d", 0755) != 0 || chdir("d") != 0) {
        printf("nest stopped at %d: %s\n", i, strerror(errno));
        return 15;
      }
    }
    return 0;
  }
  if (strcmp(mode, "write-inputs") == 0) {
    int fd = open("/inputs/new.txt", O_WRONLY | O_CREAT, 0644);
    printf("write-inputs %s\n", fd >= 0 ? "allowed" : strerror(errno));
    return fd >= 0 ? 13 : 0;
  }
  if (strcmp(mode, "flood") == 0) {
    size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 1;
    static char chunk[1 << 16];
    memset(chunk, 'y', sizeof chunk);
    for (size_t i = 0; i < mib * 16; i++) {
      if (write(1, chunk, sizeof chunk) != (ssize_t)sizeof chunk) return 14;
      if (i % 16 == 0 && write(2, chunk, sizeof chunk) != (ssize_t)sizeof chunk) return 15;
    }
    return 0;
  }
  if (strcmp(mode, "fill") == 0) {
    size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 1;
    static char chunk[1 << 16];
    memset(chunk, 'o', sizeof chunk);
    int fd = open("/outputs/fill.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 16;
    size_t written = 0;
    for (size_t i = 0; i < mib * 16; i++) {
      ssize_t n = write(fd, chunk, sizeof chunk);
      if (n < 0) {
        printf("fill stopped after %zu bytes: %s\n", written, strerror(errno));
        close(fd);
        return 17;
      }
      written += (size_t)n;
    }
    close(fd);
    printf("fill wrote %zu bytes\n", written);
    return 0;
  }
  if (strcmp(mode, "sparse") == 0) {
    int fd = open("/outputs/sparse.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 16;
    if (lseek(fd, (off_t)4 << 30, SEEK_SET) < 0) return 18;
    printf("sparse write %zd\n", write(fd, "x", 1));
    close(fd);
    return 0;
  }
  if (strcmp(mode, "escape") == 0) {
    const char *targets[] = {"/etc/lilypad-escape", "/tmp/lilypad-escape", "/outputs/../lilypad-escape",
                             "/inputs/../lilypad-escape", "lilypad-escape"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
      FILE *f = fopen(targets[i], "w");
      printf("write %s %s\n", targets[i], f ? "allowed" : "refused");
      if (f) fclose(f);
    }
    const char *reads[] = {"/etc/passwd", "/outputs/../../etc/passwd", "/inputs/../etc/passwd"};
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
      FILE *f = fopen(reads[i], "r");
      printf("read %s %s\n", reads[i], f ? "allowed" : "refused");
      if (f) fclose(f);
    }
    return 0;
  }
  if (strcmp(mode, "symlink") == 0) {
    printf("symlink %s\n", symlink("/etc/passwd", "/outputs/passwd") == 0 ? "made" : strerror(errno));
    return 0;
  }
  if (strcmp(mode, "write") == 0 && argc > 3) {
    FILE *f = fopen(argv[2], "w");
    if (!f) {
      printf("cannot write %s: %s\n", argv[2], strerror(errno));
      return 16;
    }
    fputs(argv[3], f);
    fclose(f);
    return 0;
  }
  if (strcmp(mode, "cat") == 0 && argc > 2) {
    char buffer[4096];
    const char *path = argv[2];
    FILE *f = fopen(path, "r");
    if (!f) {
      printf("cannot read %s: %s\n", path, strerror(errno));
      return 19;
    }
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, f)) > 0) fwrite(buffer, 1, n, stdout);
    fclose(f);
    return 0;
  }
  if (strcmp(mode, "digest") == 0 && argc > 2) {
    FILE *out = fopen("/outputs/digests.txt", "w");
    if (!out) return 11;
    int status = digest_tree(argv[2], out);
    fclose(out);
    return status;
  }
  return report(argc, argv);
}
