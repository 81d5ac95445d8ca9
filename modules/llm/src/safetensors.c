#include "safetensors.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* The header is JSON: a small strict parser for what a safetensors header holds (objects, strings,
 * arrays of non-negative integers). Anything else is a malformed file. */
typedef struct {
  const char *at, *end;
  char *error;
  size_t error_size;
  int failed;
} Parser;

static int fail(Parser *p, const char *format, ...) {
  if (!p->failed) {
    va_list args;
    va_start(args, format);
    vsnprintf(p->error, p->error_size, format, args);
    va_end(args);
  }
  p->failed = 1;
  return 0;
}

static void skip_space(Parser *p) {
  while (p->at < p->end && (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r')) p->at++;
}

static int expect(Parser *p, char c) {
  skip_space(p);
  if (p->at >= p->end || *p->at != c) return fail(p, "its header is not valid JSON (expected '%c')", c);
  p->at++;
  return 1;
}

static int peek(Parser *p, char c) {
  skip_space(p);
  return p->at < p->end && *p->at == c;
}

static void put_utf8(char *out, size_t *length, unsigned code) {
  if (code < 0x80) out[(*length)++] = (char)code;
  else if (code < 0x800) {
    out[(*length)++] = (char)(0xC0 | (code >> 6));
    out[(*length)++] = (char)(0x80 | (code & 0x3F));
  } else {
    out[(*length)++] = (char)(0xE0 | (code >> 12));
    out[(*length)++] = (char)(0x80 | ((code >> 6) & 0x3F));
    out[(*length)++] = (char)(0x80 | (code & 0x3F));
  }
}

/* A JSON string, decoded, as a new NUL-terminated string (NULL on error). */
static char *parse_string(Parser *p) {
  if (!expect(p, '"')) return NULL;
  const char *start = p->at;
  while (p->at < p->end && *p->at != '"') p->at += *p->at == '\\' ? 2 : 1;
  if (p->at >= p->end) return fail(p, "its header has an unterminated string"), NULL;
  char *out = xmalloc((size_t)(p->at - start) + 1);
  size_t length = 0;
  for (const char *c = start; c < p->at; c++) {
    if (*c != '\\') {
      out[length++] = *c;
      continue;
    }
    c++;
    switch (*c) {
      case '"': case '\\': case '/': out[length++] = *c; break;
      case 'b': out[length++] = '\b'; break;
      case 'f': out[length++] = '\f'; break;
      case 'n': out[length++] = '\n'; break;
      case 'r': out[length++] = '\r'; break;
      case 't': out[length++] = '\t'; break;
      case 'u': {
        unsigned code = 0;
        for (int i = 1; i <= 4; i++) {
          char h = c + i < p->at ? c[i] : 0;
          unsigned digit = h >= '0' && h <= '9' ? (unsigned)(h - '0') : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10) : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10) : 16;
          if (digit == 16) return free(out), fail(p, "its header has a bad \\u escape"), NULL;
          code = code * 16 + digit;
        }
        if (code == 0) return free(out), fail(p, "its header has a NUL in a string"), NULL;
        put_utf8(out, &length, code); /* surrogates are kept as they come: names here are ASCII */
        c += 4;
        break;
      }
      default: return free(out), fail(p, "its header has a bad escape in a string"), NULL;
    }
  }
  out[length] = '\0';
  p->at++;
  return out;
}

static int parse_size(Parser *p, size_t *value) {
  skip_space(p);
  if (p->at >= p->end || *p->at < '0' || *p->at > '9') return fail(p, "its header has a bad number");
  uint64_t result = 0;
  while (p->at < p->end && *p->at >= '0' && *p->at <= '9') {
    if (result > (UINT64_MAX - 9) / 10) return fail(p, "its header has a number too large");
    result = result * 10 + (uint64_t)(*p->at++ - '0');
  }
  if (result > SIZE_MAX) return fail(p, "its header has a number too large");
  *value = (size_t)result;
  return 1;
}

/* [n, n, ...] with at most `max` entries. */
static int parse_sizes(Parser *p, size_t *values, int max, int *count) {
  *count = 0;
  if (!expect(p, '[')) return 0;
  if (peek(p, ']')) return p->at++, 1;
  for (;;) {
    if (*count == max) return fail(p, "its header has an array longer than %d", max);
    if (!parse_size(p, &values[(*count)++])) return 0;
    if (peek(p, ',')) { p->at++; continue; }
    return expect(p, ']');
  }
}

static int parse_metadata(Parser *p, SafeTensors *st) {
  if (!expect(p, '{')) return 0;
  if (peek(p, '}')) return p->at++, 1;
  for (;;) {
    char *key = parse_string(p);
    if (!key || !expect(p, ':')) return free(key), 0;
    char *value = parse_string(p);
    if (!value) { fail(p, "its __metadata__ value of %s is not a string", key); free(key); return 0; }
    st->meta = realloc(st->meta, (st->meta_count + 1) * sizeof *st->meta);
    if (!st->meta) die("out of memory");
    st->meta[st->meta_count++] = (StMeta){key, value};
    if (peek(p, ',')) { p->at++; continue; }
    return expect(p, '}');
  }
}

static int parse_tensor(Parser *p, StTensor *tensor) {
  int have_dtype = 0, have_shape = 0, have_offsets = 0;
  if (!expect(p, '{')) return 0;
  if (peek(p, '}')) return fail(p, "tensor %s has no dtype, shape or data_offsets", tensor->name);
  for (;;) {
    char *key = parse_string(p);
    if (!key || !expect(p, ':')) return free(key), 0;
    if (strcmp(key, "dtype") == 0) {
      tensor->dtype = parse_string(p);
      have_dtype = tensor->dtype != NULL;
    } else if (strcmp(key, "shape") == 0) {
      have_shape = parse_sizes(p, tensor->shape, ST_MAX_RANK, &tensor->rank);
    } else if (strcmp(key, "data_offsets") == 0) {
      size_t offsets[2];
      int count;
      have_offsets = parse_sizes(p, offsets, 2, &count) && count == 2;
      if (!have_offsets) { free(key); return fail(p, "tensor %s has bad data_offsets", tensor->name); }
      tensor->begin = offsets[0];
      tensor->end = offsets[1];
    } else {
      fail(p, "tensor %s has an unknown field %s", tensor->name, key);
    }
    free(key);
    if (p->failed) return 0;
    if (peek(p, ',')) { p->at++; continue; }
    if (!expect(p, '}')) return 0;
    break;
  }
  if (!have_dtype || !have_shape || !have_offsets) return fail(p, "tensor %s lacks a dtype, shape or data_offsets", tensor->name);
  return 1;
}

int st_parse(SafeTensors *st, unsigned char *bytes, size_t length, char *error, size_t error_size) {
  memset(st, 0, sizeof *st);
  st->bytes = bytes;
  Parser p = {0, 0, error, error_size, 0};
  if (length < 8) return fail(&p, "it is too short to be a safetensors file (%zu bytes)", length), -1;
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; i--) header_length = (header_length << 8) | bytes[i];
  if (header_length > length - 8) return fail(&p, "it is not a safetensors file (its header length is past its end)"), -1;
  p.at = (const char *)bytes + 8;
  p.end = p.at + header_length;
  st->data = bytes + 8 + header_length;
  st->data_length = length - 8 - (size_t)header_length;
  if (!expect(&p, '{')) return -1;
  if (!peek(&p, '}')) {
    for (;;) {
      char *name = parse_string(&p);
      if (!name || !expect(&p, ':')) return free(name), -1;
      if (strcmp(name, "__metadata__") == 0) {
        free(name);
        if (!parse_metadata(&p, st)) return -1;
      } else {
        if (st_find(st, name)) return fail(&p, "it names tensor %s twice", name), free(name), -1;
        st->tensors = realloc(st->tensors, (st->tensor_count + 1) * sizeof *st->tensors);
        if (!st->tensors) die("out of memory");
        StTensor *tensor = &st->tensors[st->tensor_count++];
        memset(tensor, 0, sizeof *tensor);
        tensor->name = name;
        if (!parse_tensor(&p, tensor)) return -1;
        if (tensor->begin > tensor->end || tensor->end > st->data_length)
          return fail(&p, "tensor %s lies outside the file's data", name), -1;
      }
      if (peek(&p, ',')) { p.at++; continue; }
      if (!expect(&p, '}')) return -1;
      break;
    }
  } else {
    p.at++;
  }
  skip_space(&p);
  if (p.at != p.end) return fail(&p, "its header has text after the JSON object"), -1;
  return 0;
}

void st_free(SafeTensors *st) {
  for (size_t i = 0; i < st->tensor_count; i++) free(st->tensors[i].name), free(st->tensors[i].dtype);
  for (size_t i = 0; i < st->meta_count; i++) free(st->meta[i].key), free(st->meta[i].value);
  free(st->tensors);
  free(st->meta);
  free(st->bytes);
  memset(st, 0, sizeof *st);
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
  for (size_t i = 0; i < st->tensor_count; i++)
    if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
  return NULL;
}

const char *st_meta(const SafeTensors *st, const char *key) {
  for (size_t i = 0; i < st->meta_count; i++)
    if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
  return NULL;
}

static void format_shape(char *out, size_t size, int rank, const size_t *shape) {
  size_t used = (size_t)snprintf(out, size, "[");
  for (int i = 0; i < rank && used < size; i++) used += (size_t)snprintf(out + used, size - used, i ? ", %zu" : "%zu", shape[i]);
  if (used < size) snprintf(out + used, size - used, "]");
}

int st_read_f32(const SafeTensors *st, const char *name, int rank, const size_t *shape, float *out, char *error, size_t error_size) {
  const StTensor *tensor = st_find(st, name);
  if (!tensor) return snprintf(error, error_size, "it has no tensor %s", name), -1;
  if (strcmp(tensor->dtype, "F32") != 0) return snprintf(error, error_size, "tensor %s is %s, not F32", name, tensor->dtype), -1;
  int same = tensor->rank == rank;
  size_t count = 1;
  for (int i = 0; same && i < rank; i++) same = tensor->shape[i] == shape[i], count *= shape[i];
  if (!same) {
    char want[64], got[64];
    format_shape(want, sizeof want, rank, shape);
    format_shape(got, sizeof got, tensor->rank, tensor->shape);
    return snprintf(error, error_size, "tensor %s has shape %s, not %s", name, got, want), -1;
  }
  if (tensor->end - tensor->begin != count * sizeof(float))
    return snprintf(error, error_size, "tensor %s has %zu bytes of data, not %zu", name, tensor->end - tensor->begin, count * sizeof(float)), -1;
  memcpy(out, st->data + tensor->begin, count * sizeof(float)); /* little-endian on every target here */
  return 0;
}

static void write_header_string(char **out, size_t *length, size_t *capacity, const char *text) {
  size_t need = strlen(text) * 6 + 3;
  if (*length + need > *capacity) {
    *capacity = (*length + need) * 2;
    *out = realloc(*out, *capacity);
    if (!*out) die("out of memory");
  }
  (*out)[(*length)++] = '"';
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\') (*out)[(*length)++] = '\\', (*out)[(*length)++] = (char)*c;
    else if (*c < 0x20) *length += (size_t)sprintf(*out + *length, "\\u%04x", *c);
    else (*out)[(*length)++] = (char)*c;
  }
  (*out)[(*length)++] = '"';
}

static void write_header_text(char **out, size_t *length, size_t *capacity, const char *text) {
  size_t need = strlen(text) + 1;
  if (*length + need > *capacity) {
    *capacity = (*length + need) * 2;
    *out = realloc(*out, *capacity);
    if (!*out) die("out of memory");
  }
  memcpy(*out + *length, text, need - 1);
  *length += need - 1;
}

int st_write(const char *path, const StOutTensor *tensors, size_t tensor_count, const StMeta *meta, size_t meta_count) {
  size_t capacity = 1024, length = 0, offset = 0;
  char *header = xmalloc(capacity), number[96];
  write_header_text(&header, &length, &capacity, "{");
  if (meta_count) {
    write_header_text(&header, &length, &capacity, "\"__metadata__\":{");
    for (size_t i = 0; i < meta_count; i++) {
      if (i) write_header_text(&header, &length, &capacity, ",");
      write_header_string(&header, &length, &capacity, meta[i].key);
      write_header_text(&header, &length, &capacity, ":");
      write_header_string(&header, &length, &capacity, meta[i].value);
    }
    write_header_text(&header, &length, &capacity, "}");
  }
  for (size_t i = 0; i < tensor_count; i++) {
    const StOutTensor *tensor = &tensors[i];
    size_t count = 1;
    if (i || meta_count) write_header_text(&header, &length, &capacity, ",");
    write_header_string(&header, &length, &capacity, tensor->name);
    write_header_text(&header, &length, &capacity, ":{\"dtype\":\"F32\",\"shape\":[");
    for (int d = 0; d < tensor->rank; d++) {
      snprintf(number, sizeof number, d ? ",%zu" : "%zu", tensor->shape[d]);
      write_header_text(&header, &length, &capacity, number);
      count *= tensor->shape[d];
    }
    snprintf(number, sizeof number, "],\"data_offsets\":[%zu,%zu]}", offset, offset + count * sizeof(float));
    write_header_text(&header, &length, &capacity, number);
    offset += count * sizeof(float);
  }
  write_header_text(&header, &length, &capacity, "}");
  while (length % 8) write_header_text(&header, &length, &capacity, " "); /* data starts 8-byte aligned */

  FILE *file = fopen(path, "wb");
  if (!file) return free(header), -1;
  unsigned char length_bytes[8];
  for (int i = 0; i < 8; i++) length_bytes[i] = (unsigned char)((uint64_t)length >> (8 * i));
  int ok = fwrite(length_bytes, 1, 8, file) == 8 && fwrite(header, 1, length, file) == length;
  for (size_t i = 0; ok && i < tensor_count; i++) {
    size_t count = 1;
    for (int d = 0; d < tensors[i].rank; d++) count *= tensors[i].shape[d];
    ok = fwrite(tensors[i].data, sizeof(float), count, file) == count;
  }
  free(header);
  return fclose(file) == 0 && ok ? 0 : -1;
}
