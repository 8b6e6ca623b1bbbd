/* The bump allocator's one extension to <stdlib.h>: see libc.c. */
#ifndef PXELAB_LIBC_HEAP_H
#define PXELAB_LIBC_HEAP_H

/* Frees everything malloc/realloc returned so far. Called when an export returns: the canonical
 * ABI's arguments (config list, datagram payload) are dead then, and the plugin keeps its state
 * in static storage, so the heap never outgrows one call. */
void pxelab_heap_reset(void);

#endif
