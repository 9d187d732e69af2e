/* memscan - looks at the memory it was given beside its own image: every
 * byte from LV_GPA_IMAGE up to the stack the shell keeps (the top
 * 64 KiB) that is not in one of its segments must be zero, whatever ran
 * or was loaded in that shell before (a preloaded image of another guest,
 * lightvmd(8)).  Prints "memscan: clean" and powers off with 0, or the
 * count and first address of non-zero bytes and powers off with 1. */
#include "rt.h"

#define STACK_KEPT (64u << 10)

extern const char lv_text_end[], lv_rodata_start[], lv_rodata_end[], lv_data_start[],
	lv_image_end[];

int app_main(void)
{
	uintptr_t skip[3][2] = {
		{ LV_GPA_IMAGE, (uintptr_t)lv_text_end },
		{ (uintptr_t)lv_rodata_start, (uintptr_t)lv_rodata_end },
		{ (uintptr_t)lv_data_start, (uintptr_t)lv_image_end },
	};
	uintptr_t top = (uintptr_t)lv_dp->mem_size - STACK_KEPT, first = 0;
	uint64_t dirty = 0;

	for (uintptr_t a = LV_GPA_IMAGE; a < top; a++) {
		unsigned k = 0;

		while (k < 3 && !(a >= skip[k][0] && a < skip[k][1]))
			k++;
		if (k < 3) {
			a = skip[k][1] - 1;
			continue;
		}
		if (*(volatile const uint8_t *)a) {
			if (!dirty)
				first = a;
			dirty++;
		}
	}
	lv_ready();
	if (dirty) {
		lv_printf("memscan: %llu non-zero bytes outside the image, the first at %p\n",
			  (unsigned long long)dirty, (void *)first);
		return 1;
	}
	lv_printf("memscan: clean\n");
	return 0;
}
