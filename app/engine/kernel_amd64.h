// The threshold decision of the popcnt, avx2 and avx512bw tiers, shared by
// kernel_amd64.s and kernel_harleyseal_amd64.s.
//
// MASK8 sets bit j of the mask byte at (R8) when the count at j*4(DI) is at
// least R10[pops[j]] (the pops at BX, R10 = th.minCount from the query's
// popcount on), for the 8 rows j = 0..7; clobbers R9, R12. Row j is a hit
// when minc-1 < count (minc ≥ 1: t > 0), which sets the carry that ADCL
// shifts into the byte; rows are taken 7 down to 0 so row 0 lands in bit 0.
#define MINBIT(j) \
	MOVL j*4(BX), R9     \
	MOVL (R10)(R9*4), R9 \
	DECL R9              \
	CMPL R9, j*4(DI)     \
	ADCL R12, R12

#define MASK8 \
	XORL R12, R12 \
	MINBIT(7)     \
	MINBIT(6)     \
	MINBIT(5)     \
	MINBIT(4)     \
	MINBIT(3)     \
	MINBIT(2)     \
	MINBIT(1)     \
	MINBIT(0)     \
	MOVB R12, (R8)
