/* A freestanding libc subset for plugins written in C: just what the wit-bindgen C bindings
 * (cabi_realloc -> realloc, free, abort, strlen, memcpy) and the compiler (memcpy/memset for
 * struct copies) need on wasm32-unknown-unknown, where there is no libc and no WASI.
 *
 * malloc is a bump allocator over linear memory above __heap_base, growing memory with
 * memory.grow; free does nothing, and pxelab_heap_reset() drops everything at once. Every block
 * is 8-aligned (the largest alignment the canonical ABI asks for: u64) and carries its size in
 * an 8-byte header so realloc can copy it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pxelab_heap.h"

#define WASM_PAGE_BYTES 65536u
#define HEADER_BYTES 8u

/* Provided by wasm-ld: the first byte after static data and the stack. */
extern unsigned char __heap_base;

static uintptr_t heap_next;

void pxelab_heap_reset(void) { heap_next = (uintptr_t)&__heap_base; }

void *malloc(size_t size) {
    if (heap_next == 0) {
        pxelab_heap_reset();
    }
    uintptr_t start = (heap_next + 7u) & ~(uintptr_t)7u;
    uintptr_t data = start + HEADER_BYTES;
    if (size > UINTPTR_MAX - data - 7u) {
        return NULL;
    }
    uintptr_t end = data + size;
    uintptr_t have = (uintptr_t)__builtin_wasm_memory_size(0) * WASM_PAGE_BYTES;
    if (end > have) {
        size_t pages = (size_t)((end - have + WASM_PAGE_BYTES - 1u) / WASM_PAGE_BYTES);
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) {
            return NULL;
        }
    }
    *(size_t *)start = size;
    heap_next = end;
    return (void *)data;
}

void *realloc(void *ptr, size_t size) {
    if (ptr == NULL) {
        return malloc(size);
    }
    size_t old_size = *(size_t *)((uintptr_t)ptr - HEADER_BYTES);
    if (size <= old_size) {
        return ptr;
    }
    void *grown = malloc(size);
    if (grown != NULL) {
        memcpy(grown, ptr, old_size);
    }
    return grown;
}

void free(void *ptr) { (void)ptr; }

_Noreturn void abort(void) { __builtin_trap(); }

/* Byte loops: LLVM does not turn the body of a function named memcpy/memset into a call to
 * itself, and these run over a few hundred bytes at most. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) {
        *d++ = *s++;
    }
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--) {
            *d++ = *s++;
        }
    } else {
        while (n--) {
            d[n] = s[n];
        }
    }
    return dst;
}

void *memset(void *dst, int value, size_t n) {
    unsigned char *d = dst;
    while (n--) {
        *d++ = (unsigned char)value;
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a;
    const unsigned char *y = b;
    for (; n; n--, x++, y++) {
        if (*x != *y) {
            return *x - *y;
        }
    }
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) {
        n++;
    }
    return n;
}
