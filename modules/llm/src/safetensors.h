/*
 * safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a
 * JSON header naming each tensor's dtype, shape and byte range, then the raw data. Read for the weights and
 * adapters, written for adapters. Only F32 tensors are used here.
 */
#ifndef LLM_SAFETENSORS_H
#define LLM_SAFETENSORS_H

#include <stddef.h>

#define ST_MAX_RANK 4

typedef struct {
  char *name;
  char *dtype;
  int rank;
  size_t shape[ST_MAX_RANK];
  size_t begin, end; /* byte offsets into the data section */
} StTensor;

typedef struct {
  char *key;
  char *value;
} StMeta;

typedef struct {
  unsigned char *bytes; /* the whole file, owned */
  const unsigned char *data;
  size_t data_length;
  StTensor *tensors;
  size_t tensor_count;
  StMeta *meta;
  size_t meta_count;
} SafeTensors;

/* Parses a file's bytes (taking ownership). 0 on success; otherwise a reason in `error`. */
int st_parse(SafeTensors *st, unsigned char *bytes, size_t length, char *error, size_t error_size);
void st_free(SafeTensors *st);

const StTensor *st_find(const SafeTensors *st, const char *name);
/* The `__metadata__` value of `key`, or NULL. */
const char *st_meta(const SafeTensors *st, const char *key);
/* Copies tensor `name`, which must be F32 of exactly `shape`, into `out`. 0 on success, else a reason in `error`. */
int st_read_f32(const SafeTensors *st, const char *name, int rank, const size_t *shape, float *out, char *error, size_t error_size);

typedef struct {
  const char *name;
  int rank;
  size_t shape[ST_MAX_RANK];
  const float *data;
} StOutTensor;

/* Writes the tensors, in the order given, and the metadata. 0 on success. */
int st_write(const char *path, const StOutTensor *tensors, size_t tensor_count, const StMeta *meta, size_t meta_count);

#endif
