#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *program_name = "llm";

void die(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fprintf(stderr, "%s: ", program_name);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

void *xmalloc(size_t bytes) {
  void *pointer = malloc(bytes ? bytes : 1);
  if (!pointer) die("out of memory (wanted %zu bytes)", bytes);
  return pointer;
}

void *xcalloc(size_t count, size_t size) {
  void *pointer = calloc(count ? count : 1, size ? size : 1);
  if (!pointer) die("out of memory (wanted %zu bytes)", count * size);
  return pointer;
}

unsigned char *read_whole_file(const char *path, size_t *length) {
  FILE *file = fopen(path, "rb");
  if (!file) return NULL;
  size_t capacity = 1 << 16, used = 0;
  unsigned char *bytes = xmalloc(capacity);
  for (;;) {
    if (used == capacity) {
      capacity *= 2;
      bytes = realloc(bytes, capacity);
      if (!bytes) die("out of memory reading %s", path);
    }
    size_t got = fread(bytes + used, 1, capacity - used, file);
    used += got;
    if (got == 0) break;
  }
  int failed = ferror(file);
  fclose(file);
  if (failed) {
    free(bytes);
    errno = EIO;
    return NULL;
  }
  *length = used;
  return bytes;
}

int parse_u64(const char *text, uint64_t *value) {
  if (!*text || strlen(text) > 20) return 0;
  uint64_t result = 0;
  for (const char *c = text; *c; c++) {
    if (*c < '0' || *c > '9') return 0;
    uint64_t digit = (uint64_t)(*c - '0');
    if (result > (UINT64_MAX - digit) / 10) return 0;
    result = result * 10 + digit;
  }
  *value = result;
  return 1;
}

int parse_float(const char *text, double *value) {
  if (!*text) return 0;
  char *end;
  errno = 0;
  double result = strtod(text, &end);
  if (*end || errno || !isfinite(result)) return 0;
  *value = result;
  return 1;
}

/* Length of the valid UTF-8 sequence at `bytes`, or 0 when it is not one. */
static size_t utf8_sequence_length(const unsigned char *bytes, size_t left) {
  unsigned char c = bytes[0];
  size_t length = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (length == 0 || length > left) return 0;
  for (size_t i = 1; i < length; i++)
    if ((bytes[i] & 0xC0) != 0x80) return 0;
  if (length == 3) {
    unsigned code = ((c & 0x0Fu) << 12) | ((bytes[1] & 0x3Fu) << 6) | (bytes[2] & 0x3Fu);
    if (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  }
  if (length == 4) {
    unsigned code = ((c & 0x07u) << 18) | ((bytes[1] & 0x3Fu) << 12) | ((bytes[2] & 0x3Fu) << 6) | (bytes[3] & 0x3Fu);
    if (code < 0x10000 || code > 0x10FFFF) return 0;
  }
  return length;
}

void write_json_string(FILE *out, const unsigned char *bytes, size_t length) {
  fputc('"', out);
  for (size_t at = 0; at < length;) {
    unsigned char c = bytes[at];
    size_t sequence = utf8_sequence_length(bytes + at, length - at);
    if (sequence == 0) {
      fputs("\\ufffd", out);
      at++;
    } else if (sequence > 1) {
      fwrite(bytes + at, 1, sequence, out);
      at += sequence;
    } else {
      if (c == '"') fputs("\\\"", out);
      else if (c == '\\') fputs("\\\\", out);
      else if (c == '\n') fputs("\\n", out);
      else if (c == '\r') fputs("\\r", out);
      else if (c == '\t') fputs("\\t", out);
      else if (c < 0x20 || c == 0x7F) fprintf(out, "\\u%04x", c);
      else fputc(c, out);
      at++;
    }
  }
  fputc('"', out);
}
