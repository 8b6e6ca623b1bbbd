/* The part of <string.h> that the wit-bindgen C bindings, proxydhcp.c and the compiler's own
 * lowering of struct copies use, for a freestanding wasm32-unknown-unknown build: see libc.c. */
#ifndef PXELAB_LIBC_STRING_H
#define PXELAB_LIBC_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int value, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
