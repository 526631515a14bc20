/* empty_preload - a library that does nothing, preloaded by bench_start: what any
 * preload costs a process (the loader opening, mapping and relocating one more object),
 * the floor libbindguard.so's own start cost is measured from. */
int bg_empty_preload;
