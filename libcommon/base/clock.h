/* clock.h: seconds on a monotonic clock, for timing (never for dates). */
#ifndef NMOE_CLOCK_H
#define NMOE_CLOCK_H

double monotonic_s(void);

#endif
