// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_rules_file.c - the rules file's loader (the operator's rules, the
 * outbreak exceptions, the saved outbreaks) on any text.
 *
 * The input is the payload, the JSON text: the harness writes it as a real
 * rules file (valid header and checksum, mg_state_write) beside an empty
 * state and starts an engine on a fake kernel from it, as the daemon does:
 * every rule, exception and outbreak checked, the good ones claimed and
 * written to the fake kernel, a tick, and a save that writes them again.
 * Nothing it holds may crash, overflow or leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_engine *fe = fuzz_engine_dir();

	fuzz_engine_run(fe, NULL, 0, data, size, size && (data[0] & 1));
	return 0;
}
