// Package engine is the linkage engine: CLK decoding, the Dice kernel,
// candidate generation and the solvers. It does no I/O beyond io.Reader and
// io.Writer helpers, so the CLI, the API and the workers share it unchanged.
//
// # CLKs
//
// A [CLKs] holds n records of Size() bytes each (a positive multiple of 8)
// as little-endian uint64 words with precomputed popcounts. Build one with
// [DecodeBase64] (JSON uploads), [ReadBinary] (the binary upload form: n×size
// bytes back to back) or [New] (bytes already in memory). A service streaming
// a JSON upload decodes record by record with a [RecordDecoder], appending the
// raw bytes to a blob; later it reads the blob back with [ReadBinary].
// [CLKs.Slice] is a cheap view of rows lo..hi that keeps ABSOLUTE row numbers:
// candidates found between views carry the rows of the full upload.
//
// # Dice and candidates
//
// [Dice] is 2·popcount(a&b)/(popcount(a)+popcount(b)) in float64, computed
// exactly so (two all-zero CLKs score 0). [Compare] finds every pair of two
// parties' CLKs with Dice ≥ threshold (inclusive), skipping pairs whose
// popcounts cannot reach the threshold, optionally keeping only the top k per
// record of the first party, optionally comparing only records that share a
// block. It runs on Options.Workers goroutines (default GOMAXPROCS), reports
// progress (comparisons done, monotone, ending at a.Len()·b.Len()) and stops on
// context cancellation. Memory grows with the number of candidates, not with
// n1·n2. [CompareAll] runs every party pair p<q of a multi-party linkage.
//
// The Dice kernel comes in tiers, one per instruction set of the CPUs the
// worker pools run on: portable (Go, math/bits), popcnt (scalar POPCNTQ, 4
// rows per pass), avx2 (VPSHUFB nibble lookup summed with VPSADBW),
// avx512bw (a Harley–Seal carry-save popcount with VPTERNLOGQ over rows
// stored in word-interleaved 8-row blocks, so each lane is one row and no
// transpose is needed) and avx512 (VPOPCNTQ on two queries per pass over the
// rows, VBMI2's VPSHRDQ and VBMI's VPERMB for the lane sums). The fastest
// tier the CPU runs is chosen at start-up from x/sys/cpu; [UseKernel] forces
// one (the
// binary's --kernel / LINKAGE_KERNEL) and refuses an unknown name or a tier
// whose instructions the CPU lacks; [KernelName] tells which one runs. All
// give identical results (property tests and FuzzKernels: go test -run '^$'
// -fuzz FuzzKernels -fuzzminimizetime 3s ./app/engine). The assembly tiers
// have a fast path for 1024-bit rows and a general one for any multiple of 8
// bytes. All decide the threshold from the exact integer table th.minCount
// like the portable kernel (avx512 first against one lower bound per call,
// exactly only for the 8 rows where a count reaches it).
//
// Compare sorts b by popcount (a copy, contiguous for the kernel), takes the
// rows of a in popcount order in groups of 32 and scans, per group, tiles of
// 1,024 rows of b (L2-resident) restricted to each query's popcount span.
// Hits go to fixed-size blocks, sorted per worker and heap-merged.
//
// Candidate lists from chunks of a run are stored with [EncodeCandidates] /
// [DecodeCandidates] and merged with [MergeCandidates] (which re-applies a
// per-record top-k limit when the chunks were computed with one).
//
// # Solvers
//
// All solvers are deterministic for equal inputs.
//   - [Groups]: the reference's greedy grouping for 2..N parties (api.md,
//     "groups"). Candidates are taken in descending score, ties by (party0,
//     party1, row0, row1) ascending; two groups merge on the candidate that
//     completes every cross pair between them (edges seen = |Gx|·|Gy|), so
//     the result equals the reference's on ../shared/testdata/reference.
//   - [Permutations]: 2 parties, 1:1 greedy matching; the reference's layout
//     (m = the smaller size rows, matched pairs on the same random row below
//     m, mask[row] = 1 there), random rows from a seed string (the run id).
//   - similarity_scores: every candidate, in [SortCandidates] order (the order
//     the groups solver takes them)
package engine
