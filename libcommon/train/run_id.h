/* run_id.h: the id of one training run (nmoe-train(1), "Run ids").
 *
 * A run is one trajectory of training, however many processes it takes: the id is
 * drawn when a run starts fresh, stored in every checkpoint's state.json, and taken
 * back from there when the run is resumed in its own out_dir. It is not the config
 * fingerprint: two runs of one config are two runs. 64 bits from the kernel's random
 * source, so ids drawn by parallel runs on many hosts do not collide in practice. */
#ifndef NMOE_RUN_ID_H
#define NMOE_RUN_ID_H

#include <stdbool.h>

/* A fresh id: 16 lowercase hex digits and a NUL. Dies if the kernel gives no randomness. */
void run_id_new(char out[17]);
/* True when s is 16 lowercase hex digits. */
bool run_id_valid(const char *s);

#endif
