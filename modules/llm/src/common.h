/*
 * What every program of the llm modules shares: one-line errors, checked allocation, whole-file reads,
 * number parsing for inputs, and JSON string output.
 */
#ifndef LLM_COMMON_H
#define LLM_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The program's name in messages ("llm", "lora-training", ...); set by main. */
extern const char *program_name;

/* Prints "program: message" on one line to stderr and exits 1. */
void die(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));

void *xmalloc(size_t bytes);
void *xcalloc(size_t count, size_t size);

/* The whole file, or NULL (errno set) when it cannot be read. */
unsigned char *read_whole_file(const char *path, size_t *length);

/* Strict parses of an input's text: the whole string must be the number. 1 on success. */
int parse_u64(const char *text, uint64_t *value);
int parse_float(const char *text, double *value);

/* Writes `bytes` as a JSON string (quotes included); invalid UTF-8 becomes U+FFFD. */
void write_json_string(FILE *out, const unsigned char *bytes, size_t length);

#endif
