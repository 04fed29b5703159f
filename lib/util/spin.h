/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bounded busy-polling of a shared ring, for both drivers' poll_us option.
 *
 *     uint64_t end = vbd__spin_clock_ns() + poll_ns;
 *     while (!ready(ring))
 *             if (vbd__spin_clock_ns() >= end) { arm the event index; sleep; }
 *             else vbd__cpu_relax();
 *
 * The pause tells the core that this is a spin-wait: it yields the
 * pipeline to a sibling hyperthread and avoids the memory-order
 * mis-speculation when the other side's store finally lands.
 */
#ifndef VBD_UTIL_SPIN_H
#define VBD_UTIL_SPIN_H

#include <stdint.h>
#include <time.h>

static inline void vbd__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* CLOCK_MONOTONIC in ns: a vDSO call, cheap enough once per spin. */
static inline uint64_t vbd__spin_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The most poll_us either driver takes: one second of spinning. */
#define VBD__POLL_US_MAX 1000000u

#endif
