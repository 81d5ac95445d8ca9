/*
 * cowsay for WASI: the arguments, joined by spaces, in a speech bubble with the classic cow below.
 *
 * The bubble follows Debian's cowsay 3.03 (Perl) byte for byte: the message goes through Text::Wrap's
 * fill() at 40 columns (lines of at most 39 characters, whitespace runs collapsed, a newline followed by
 * whitespace starts a new paragraph, words longer than a line are cut), then split into lines with
 * trailing empty lines dropped. Characters are Unicode code points; East Asian wide characters count two
 * columns when padding, as mbswidth() counts them. Invalid UTF-8 bytes pass through as one column each.
 *
 * No stdio: only write(), so the module stays small.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_CHARS 39 /* Text::Wrap with $columns = 40 */
#define RAW_BYTE 0x80000000u /* marks an undecodable byte, kept as is */

typedef struct {
  unsigned *items;
  size_t length;
  size_t capacity;
} Text;

static void die_no_memory(void) {
  static const char message[] = "cowsay: out of memory\n";
  write(2, message, sizeof message - 1);
  _exit(1);
}

static void push(Text *text, unsigned c) {
  if (text->length == text->capacity) {
    text->capacity = text->capacity ? text->capacity * 2 : 64;
    text->items = realloc(text->items, text->capacity * sizeof *text->items);
    if (!text->items) die_no_memory();
  }
  text->items[text->length++] = c;
}

static void push_range(Text *text, const unsigned *from, size_t count) {
  for (size_t i = 0; i < count; i++) push(text, from[i]);
}

/* Perl's \s on a decoded string. */
static int is_space(unsigned c) {
  return c == ' ' || (c >= 9 && c <= 13) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

/* Display columns of one character, as wcwidth() sees the common cases. */
static int width_of(unsigned c) {
  if (c & RAW_BYTE) return 1;
  if ((c >= 0x0300 && c <= 0x036F) || c == 0x200B || c == 0x200D || (c >= 0xFE00 && c <= 0xFE0F)) return 0;
  if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
      (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
      (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
      (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
      (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
    return 2;
  return 1;
}

static void decode_utf8(Text *out, const unsigned char *s) {
  while (*s) {
    unsigned c = s[0];
    size_t extra = c >= 0xF0 && c <= 0xF4 ? 3 : c >= 0xE0 ? (c <= 0xEF ? 2 : 0) : c >= 0xC2 && c <= 0xDF ? 1 : 0;
    if (c < 0x80) {
      push(out, c);
      s++;
      continue;
    }
    unsigned code = extra == 1 ? c & 0x1F : extra == 2 ? c & 0x0F : c & 0x07;
    size_t i = 1;
    for (; extra && i <= extra && (s[i] & 0xC0) == 0x80; i++) code = (code << 6) | (s[i] & 0x3F);
    int valid = extra && i == extra + 1 && !(extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) &&
                !(extra == 3 && (code < 0x10000 || code > 0x10FFFF));
    if (valid) {
      push(out, code);
      s += i;
    } else {
      push(out, RAW_BYTE | c);
      s++;
    }
  }
}

typedef struct {
  char *bytes;
  size_t length;
  size_t capacity;
} Output;

static void emit_byte(Output *out, char b) {
  if (out->length == out->capacity) {
    out->capacity = out->capacity ? out->capacity * 2 : 1024;
    out->bytes = realloc(out->bytes, out->capacity);
    if (!out->bytes) die_no_memory();
  }
  out->bytes[out->length++] = b;
}

static void emit_string(Output *out, const char *s) {
  while (*s) emit_byte(out, *s++);
}

static void emit_repeat(Output *out, char b, size_t count) {
  while (count--) emit_byte(out, b);
}

static void emit_char(Output *out, unsigned c) {
  if (c & RAW_BYTE) {
    emit_byte(out, (char)(c & 0xFF));
  } else if (c < 0x80) {
    emit_byte(out, (char)c);
  } else if (c < 0x800) {
    emit_byte(out, (char)(0xC0 | (c >> 6)));
    emit_byte(out, (char)(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    emit_byte(out, (char)(0xE0 | (c >> 12)));
    emit_byte(out, (char)(0x80 | ((c >> 6) & 0x3F)));
    emit_byte(out, (char)(0x80 | (c & 0x3F)));
  } else {
    emit_byte(out, (char)(0xF0 | (c >> 18)));
    emit_byte(out, (char)(0x80 | ((c >> 12) & 0x3F)));
    emit_byte(out, (char)(0x80 | ((c >> 6) & 0x3F)));
    emit_byte(out, (char)(0x80 | (c & 0x3F)));
  }
}

/* Text::Wrap::wrap("", "", paragraph) for a paragraph whose whitespace runs are single spaces. */
static void wrap_paragraph(Text *out, const unsigned *p, size_t n) {
  size_t pos = 0;
  int first = 1;
  unsigned remainder = 0; /* 0: nothing; otherwise the consumed break character */
  for (;;) {
    size_t rest = pos;
    while (rest < n && is_space(p[rest])) rest++;
    if (rest == n) break;
    if (!first) push(out, '\n');
    first = 0;
    size_t most = n - pos < LINE_CHARS ? n - pos : LINE_CHARS;
    size_t k = most + 1;
    while (k-- > 0) {
      if (pos + k == n || is_space(p[pos + k])) break;
    }
    if (k != (size_t)-1) {
      push_range(out, p + pos, k);
      remainder = pos + k == n ? 0 : p[pos + k];
      pos += pos + k == n ? k : k + 1;
    } else {
      push_range(out, p + pos, LINE_CHARS);
      remainder = '\n';
      pos += LINE_CHARS;
    }
  }
  /* The loop's last test matched the trailing whitespace, so only the last break is left to append. */
  if (remainder) push(out, remainder);
}

/* Text::Wrap::fill("", "", message): paragraphs split at a newline followed by whitespace. */
static void fill(Text *out, const Text *message) {
  const unsigned *m = message->items;
  size_t n = message->length, start = 0, i = 0;
  int first = 1;
  Text paragraph = {0};
  for (;;) {
    int at_end = i >= n;
    int at_break = !at_end && m[i] == '\n' && i + 1 < n && is_space(m[i + 1]);
    if (!at_end && !at_break) {
      i++;
      continue;
    }
    size_t end = i;
    if (at_break) {
      i++;
      while (i < n && is_space(m[i])) i++;
    }
    /* Perl's split drops trailing empty fields, so an empty last paragraph vanishes. */
    if (!(at_end && end == start && !first)) {
      paragraph.length = 0;
      for (size_t j = start; j < end; j++) {
        if (is_space(m[j])) {
          if (j == start || !is_space(m[j - 1])) push(&paragraph, ' ');
        } else {
          push(&paragraph, m[j]);
        }
      }
      if (!first) {
        push(out, '\n');
        push(out, '\n');
      }
      wrap_paragraph(out, paragraph.items, paragraph.length);
      first = 0;
    }
    if (at_end) break;
    start = i;
  }
  free(paragraph.items);
}

typedef struct {
  size_t start;
  size_t length;
  size_t width;
} Line;

int main(int argc, char **argv) {
  if (argc < 2) {
    static const char usage[] = "usage: cowsay MESSAGE...\n";
    write(2, usage, sizeof usage - 1);
    return 2;
  }

  Text message = {0};
  for (int a = 1; a < argc; a++) {
    if (a > 1) push(&message, ' ');
    decode_utf8(&message, (const unsigned char *)argv[a]);
  }
  Text filled = {0};
  fill(&filled, &message);

  /* split("\n", filled): leading empty lines stay, trailing ones go. */
  Line *lines = malloc((filled.length + 1) * sizeof *lines);
  if (!lines) die_no_memory();
  size_t count = 0, kept = 0, widest = 0;
  for (size_t i = 0, start = 0; i <= filled.length; i++) {
    if (i == filled.length || filled.items[i] == '\n') {
      Line line = {start, i - start, 0};
      for (size_t j = start; j < i; j++) line.width += width_of(filled.items[j]);
      lines[count++] = line;
      if (line.length) kept = count;
      start = i + 1;
    }
  }
  count = kept;
  for (size_t i = 0; i < count; i++)
    if (lines[i].width > widest) widest = lines[i].width;

  Output out = {0};
  emit_byte(&out, ' ');
  emit_repeat(&out, '_', widest + 2);
  emit_byte(&out, '\n');
  for (size_t i = 0; i < (count ? count : 1); i++) {
    const char *left = "<", *right = ">";
    if (count > 1) {
      left = i == 0 ? "/" : i == count - 1 ? "\\" : "|";
      right = i == 0 ? "\\" : i == count - 1 ? "/" : "|";
    }
    emit_string(&out, left);
    emit_byte(&out, ' ');
    size_t width = 0;
    if (count) {
      for (size_t j = 0; j < lines[i].length; j++) emit_char(&out, filled.items[lines[i].start + j]);
      width = lines[i].width;
    }
    emit_repeat(&out, ' ', widest - width);
    emit_byte(&out, ' ');
    emit_string(&out, right);
    emit_byte(&out, '\n');
  }
  emit_byte(&out, ' ');
  emit_repeat(&out, '-', widest + 2);
  emit_string(&out,
              "\n"
              "        \\   ^__^\n"
              "         \\  (oo)\\_______\n"
              "            (__)\\       )\\/\\\n"
              "                ||----w |\n"
              "                ||     ||\n");

  for (size_t done = 0; done < out.length;) {
    ssize_t written = write(1, out.bytes + done, out.length - done);
    if (written <= 0) return 1;
    done += (size_t)written;
  }
  return 0;
}
