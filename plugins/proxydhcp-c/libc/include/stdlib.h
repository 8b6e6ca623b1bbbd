/* The part of <stdlib.h> that the wit-bindgen C bindings and proxydhcp.c use, for a freestanding
 * wasm32-unknown-unknown build: see libc.c. */
#ifndef PXELAB_LIBC_STDLIB_H
#define PXELAB_LIBC_STDLIB_H

#include <stddef.h>

void *malloc(size_t size);
void *realloc(void *ptr, size_t size);
void free(void *ptr);
_Noreturn void abort(void);

#endif
