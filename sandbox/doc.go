// Package sandbox holds no code: its tests attack the sandbox from the
// outside, through a pool.Pool in each mode, the way a hostile caller's
// Python would.
//
//   - TestAttacks runs a table of attacks (files, environment, memory, CPU,
//     output, results, streams, host calls, the bridge, leaks between
//     callers) in ModeFresh, ModeWarm and in sessions. Each gets its
//     documented outcome, the pool serves a clean call afterwards, nothing
//     reaches another caller or session, and the host's goroutines, file
//     descriptors and heap come back. The rows that take seconds in each
//     mode run only with SNAKEPIT_SANDBOX_SLOW=1 (`make sandbox-slow`).
//     Attacks that alter their own interpreter are checked once more on the
//     attacker's worker or session, where the alteration stays.
//   - TestSoak mixes benign and hostile calls from many goroutines across
//     all modes, with random cancellations and deadlines, and checks that
//     every request gets exactly one outcome. SNAKEPIT_SOAK_REQUESTS sizes
//     it (`make soak` runs 100,000). It prints where the process's memory
//     is (Go's heap, the snapshot's mappings, compiled code, the guests'
//     linear memories) every tenth of the calls; at full size it checks
//     that RSS after debug.FreeOSMemory stays flat after warm-up and comes
//     back once the pools close.
package sandbox
