#include "textflag.h"
#include "kernel_amd64.h"

// The avx512 tier compares one query q against n rows (n a multiple of 8)
// and writes counts[j] = popcount(q & row j) and, per 8 rows, a mask byte
// whose bit j is set when counts[j] ≥ minc[pops[j]], minc being
// th.minCount from the query's popcount on: the exact integer form of
// score ≥ t that every tier uses.

// ANDPOP computes in Za the 8 lane popcounts of q (Z0:Z1) AND the row at off(SI).
#define ANDPOP(off, Za, Zb) \
	VPANDQ   off(SI), Z0, Za \
	VPANDQ   off+64(SI), Z1, Zb \
	VPOPCNTQ Za, Za \
	VPOPCNTQ Zb, Zb \
	VPADDQ   Zb, Za, Za

// PACK(off) moves the lane popcounts of the row at off(SI) (≤ 128: a byte)
// into the top byte of each lane of Z2, the earlier rows' a byte down.
#define PACK(off) \
	ANDPOP(off, Z3, Z4)   \
	VPSHRDQ $8, Z3, Z2, Z2

// COUNT8AVX512 leaves in the 8 qwords of Z2 the counts of the 8 rows at SI
// against q (Z0:Z1). Byte r of each lane of the packed register holds row
// r's lane popcount; VPERMB transposes that 8×8 byte matrix so that VPSADBW
// sums each row's lanes. Needs Z28 = 0, Z29 = transpose8x8.
#define COUNT8AVX512 \
	ANDPOP(0, Z3, Z4)   \
	VPSLLQ  $56, Z3, Z2 \
	PACK(128)           \
	PACK(256)           \
	PACK(384)           \
	PACK(512)           \
	PACK(640)           \
	PACK(768)           \
	PACK(896)           \
	VPERMB  Z2, Z29, Z2 \
	VPSADBW Z28, Z2, Z2

// transpose8x8 sends byte 8·lane+row to byte 8·row+lane.
DATA transpose8x8<>+0(SB)/8, $0x3830282018100800
DATA transpose8x8<>+8(SB)/8, $0x3931292119110901
DATA transpose8x8<>+16(SB)/8, $0x3a322a221a120a02
DATA transpose8x8<>+24(SB)/8, $0x3b332b231b130b03
DATA transpose8x8<>+32(SB)/8, $0x3c342c241c140c04
DATA transpose8x8<>+40(SB)/8, $0x3d352d251d150d05
DATA transpose8x8<>+48(SB)/8, $0x3e362e261e160e06
DATA transpose8x8<>+56(SB)/8, $0x3f372f271f170f07
GLOBL transpose8x8<>(SB), RODATA|NOPTR, $64

// LEASTPOP sets R11 to the least nonzero popcount of the CX rows at BX, 0
// (and ZF) when every row is empty. Z6 collects the lane-wise least
// pops[j]-1, unsigned (an empty row's 0 wraps to the maximum), 16 rows at a
// time and then a last 8. Clobbers Z5-Z7, R12.
#define LEASTPOP \
	VPTERNLOGD $0xff, Z5, Z5, Z5 \
	VMOVDQA64  Z5, Z6            \
	MOVQ       BX, R11           \
	MOVQ       CX, R12           \
	SHRQ       $4, R12           \
	JZ         least8            \
least16:                         \
	VPADDD  (R11), Z5, Z7        \
	VPMINUD Z7, Z6, Z6           \
	ADDQ    $64, R11             \
	DECQ    R12                  \
	JNZ     least16              \
least8:                          \
	TESTQ   $8, CX               \
	JZ      leastAll             \
	VMOVDQU (R11), Y7            \
	VPADDD  Z7, Z5, Z7           \
	VPMINUD Z7, Z6, Z6           \
leastAll:                        \
	VSHUFI64X2 $0x4e, Z6, Z6, Z7 \
	VPMINUD    Z7, Z6, Z6        \
	VSHUFI64X2 $0xb1, Z6, Z6, Z7 \
	VPMINUD    Z7, Z6, Z6        \
	VPSHUFD    $0x4e, Z6, Z7     \
	VPMINUD    Z7, Z6, Z6        \
	VPSHUFD    $0xb1, Z6, Z7     \
	VPMINUD    Z7, Z6, Z6        \
	VMOVD      X6, R11           \
	INCL       R11

// func scan1024AVX512(q, rows *uint64, pops *uint32, n int, minc *uint32, counts *uint32, mask *uint8)
//
// Hits are rare, so each 8 rows' counts are first compared with one lower
// bound, Z30 = L = minc[least nonzero popcount of the n rows] (minCount is
// nondecreasing in the popcount sum, and an empty row counts 0 < L); only
// when a count reaches L are the 8 rows decided exactly (MASK8).
TEXT ·scan1024AVX512(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), AX
	MOVQ rows+8(FP), SI
	MOVQ pops+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ minc+32(FP), R10
	MOVQ counts+40(FP), DI
	MOVQ mask+48(FP), R8

	LEASTPOP
	MOVL $-1, R12
	JZ   bound
	MOVL (R10)(R11*4), R12

bound:
	VPBROADCASTQ R12, Z30
	VMOVDQU64    (AX), Z0
	VMOVDQU64    64(AX), Z1
	VPXORQ       Z28, Z28, Z28
	VMOVDQU64    transpose8x8<>(SB), Z29
	SHRQ         $3, CX
	JZ           done1024

loop1024:
	COUNT8AVX512
	VPCMPUQ  $5, Z30, Z2, K1 // counts ≥ L
	KORTESTW K1, K1
	JNZ      exact1024
	MOVB     $0, (R8)

next1024:
	ADDQ $1024, SI
	ADDQ $32, BX
	ADDQ $32, DI
	INCQ R8
	DECQ CX
	JNZ  loop1024

done1024:
	VZEROUPPER
	RET

exact1024:
	VPMOVQD Z2, (DI)
	MASK8
	JMP     next1024

// ANDPOP2 computes in Z10 and Z12 the 8 lane popcounts of the queries
// q1 (Z0:Z1) and q2 (Z2:Z3) AND the row at off(SI), fetched from L2 once
// for both (the second read hits L1).
#define ANDPOP2(off) \
	VPANDQ    off(SI), Z0, Z10    \
	VPANDQ    off+64(SI), Z1, Z11 \
	VPANDQ    off(SI), Z2, Z12    \
	VPANDQ    off+64(SI), Z3, Z13 \
	VPOPCNTQ  Z10, Z10        \
	VPOPCNTQ  Z11, Z11        \
	VPOPCNTQ  Z12, Z12        \
	VPOPCNTQ  Z13, Z13        \
	VPADDQ    Z11, Z10, Z10   \
	VPADDQ    Z13, Z12, Z12

// PACK2(off) shifts the lane popcounts of the row at off(SI) into the top
// byte of each lane of Z4 (q1) and Z5 (q2), the earlier rows' moving down a
// byte, as PACK does for one query.
#define PACK2(off) \
	ANDPOP2(off)            \
	VPSHRDQ $8, Z10, Z4, Z4 \
	VPSHRDQ $8, Z12, Z5, Z5

// func scan1024x2AVX512(q1, q2, rows *uint64, pops *uint32, n int, minc1, minc2 *uint32, bound1, bound2 uint32, counts1, counts2 *uint32, mask1, mask2 *uint8) (exact bool)
//
// scan1024AVX512 for two queries in one pass: each row comes from L2 once
// for both, which halves that traffic (a tile does not fit in L1). The
// lower bounds come from the caller, who knows the rows' least popcount.
TEXT ·scan1024x2AVX512(SB), NOSPLIT, $0-97
	MOVQ         pops+24(FP), BX
	MOVQ         n+32(FP), CX
	MOVQ         minc1+40(FP), R10
	MOVQ         minc2+48(FP), R14
	MOVL         bound1+56(FP), R12
	MOVL         bound2+60(FP), R9
	VPBROADCASTQ R12, Z30
	VPBROADCASTQ R9, Z31
	MOVQ         q1+0(FP), AX
	MOVQ         q2+8(FP), DX
	MOVQ         rows+16(FP), SI
	MOVQ         counts1+64(FP), DI
	MOVQ         counts2+72(FP), R11
	MOVQ         mask1+80(FP), R8
	MOVQ         mask2+88(FP), R13
	VMOVDQU64    (AX), Z0
	VMOVDQU64    64(AX), Z1
	VMOVDQU64    (DX), Z2
	VMOVDQU64    64(DX), Z3
	VPXORQ       Z28, Z28, Z28
	VMOVDQU64    transpose8x8<>(SB), Z29
	XORL         AX, AX // set when 8 rows are decided exactly
	SHRQ         $3, CX
	JZ           done2

loop2:
	ANDPOP2(0)
	VPSLLQ   $56, Z10, Z4
	VPSLLQ   $56, Z12, Z5
	PACK2(128)
	PACK2(256)
	PACK2(384)
	PACK2(512)
	PACK2(640)
	PACK2(768)
	PACK2(896)
	VPERMB   Z4, Z29, Z4
	VPERMB   Z5, Z29, Z5
	VPSADBW  Z28, Z4, Z4
	VPSADBW  Z28, Z5, Z5
	VPCMPUQ  $5, Z30, Z4, K1
	VPCMPUQ  $5, Z31, Z5, K2
	KORTESTW K1, K2
	JNZ      exact2
	MOVB     $0, (R8)
	MOVB     $0, (R13)

next2:
	ADDQ $1024, SI
	ADDQ $32, BX
	ADDQ $32, DI
	ADDQ $32, R11
	INCQ R8
	INCQ R13
	DECQ CX
	JNZ  loop2

done2:
	MOVB AX, exact+96(FP)
	VZEROUPPER
	RET

exact2: // MASK8 for q1, then for q2 with its pointers swapped in
	MOVL    $1, AX
	VPMOVQD Z4, (DI)
	VPMOVQD Z5, (R11)
	MASK8
	XCHGQ DI, R11
	XCHGQ R8, R13
	XCHGQ R10, R14
	MASK8
	XCHGQ DI, R11
	XCHGQ R8, R13
	XCHGQ R10, R14
	JMP   next2

// The general paths' shared pieces. TAILMASK: from R12 = words, K2 masks
// the last words%8 words of a record, R11 = their bytes, R12 = whole 8-word
// chunks; clobbers CX, R10. HSUM256 and HSUM512: R = the sum of the 64-bit
// lanes of Y4 or Z4; clobber Z4, Z5.
#define TAILMASK \
	MOVQ  R12, CX  \
	ANDQ  $7, CX   \
	MOVQ  CX, R11  \
	SHLQ  $3, R11  \
	MOVQ  $1, R10  \
	SHLQ  CX, R10  \
	DECQ  R10      \
	KMOVW R10, K2  \
	SHRQ  $3, R12

#define HSUM256(R) \
	VEXTRACTI128 $1, Y4, X5  \
	VPADDQ       X5, X4, X4  \
	VPSHUFD      $0x4e, X4, X5 \
	VPADDQ       X5, X4, X4  \
	VMOVQ        X4, R

#define HSUM512(R) \
	VEXTRACTI64X4 $1, Z4, Y5 \
	VPADDQ        Y5, Y4, Y4 \
	HSUM256(R)

// func countWordsAVX512(q, rows *uint64, words, n int, counts *uint32)
//
// Any row length: 64-byte chunks, then the last words%8 words under the
// mask K2 (zeroed lanes count nothing).
TEXT ·countWordsAVX512(SB), NOSPLIT, $0-40
	MOVQ rows+8(FP), SI
	MOVQ words+16(FP), R12

	TAILMASK

	MOVQ n+24(FP), CX
	MOVQ counts+32(FP), DI

row:
	MOVQ   q+0(FP), R13
	VPXORQ Z4, Z4, Z4
	MOVQ   R12, DX
	TESTQ  DX, DX
	JZ     tail

chunk:
	VMOVDQU64 (R13), Z5
	VPANDQ    (SI), Z5, Z5
	VPOPCNTQ  Z5, Z5
	VPADDQ    Z5, Z4, Z4
	ADDQ      $64, R13
	ADDQ      $64, SI
	DECQ      DX
	JNZ       chunk

tail:
	TESTQ R11, R11
	JZ    reduce
	VMOVDQU64.Z (R13), K2, Z5
	VMOVDQU64.Z (SI), K2, Z6
	VPANDQ      Z6, Z5, Z5
	VPOPCNTQ    Z5, Z5
	VPADDQ      Z5, Z4, Z4
	ADDQ        R11, SI

reduce:
	HSUM512(R10)
	MOVL R10, (DI)
	ADDQ $4, DI
	DECQ CX
	JNZ  row
	VZEROUPPER
	RET

// ---- The counting kernels of the popcnt, avx2 and avx512bw tiers, and the
// threshold decision they share. Each writes counts[j] = popcount(q & row j)
// for n rows, n a multiple of 8.

// func maskMinCount(counts, pops *uint32, n int, minc *uint32, mask *uint8)
TEXT ·maskMinCount(SB), NOSPLIT, $0-40
	MOVQ counts+0(FP), DI
	MOVQ pops+8(FP), BX
	MOVQ n+16(FP), CX
	MOVQ minc+24(FP), R10
	MOVQ mask+32(FP), R8
	SHRQ $3, CX
	JZ   maskDone

maskLoop:
	MASK8
	ADDQ $32, DI
	ADDQ $32, BX
	INCQ R8
	DECQ CX
	JNZ  maskLoop

maskDone:
	RET

// POPCNT tier. POP4(k) adds popcount(q[k] & word k) of 4 rows (at 0, 128,
// 256, 384 bytes from SI) to R8-R11: one load of the query word serves the
// four rows.
#define POP4(k) \
	MOVQ    (k*8)(AX), DX       \
	MOVQ    DX, R12             \
	ANDQ    (k*8)(SI), R12      \
	POPCNTQ R12, R12            \
	ADDQ    R12, R8             \
	MOVQ    DX, R13             \
	ANDQ    (k*8+128)(SI), R13  \
	POPCNTQ R13, R13            \
	ADDQ    R13, R9             \
	MOVQ    DX, BX              \
	ANDQ    (k*8+256)(SI), BX   \
	POPCNTQ BX, BX              \
	ADDQ    BX, R10             \
	MOVQ    DX, R12             \
	ANDQ    (k*8+384)(SI), R12  \
	POPCNTQ R12, R12            \
	ADDQ    R12, R11

// func count1024POPCNT(q, rows *uint64, n int, counts *uint32)
TEXT ·count1024POPCNT(SB), NOSPLIT, $0-32
	MOVQ q+0(FP), AX
	MOVQ rows+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ counts+24(FP), DI
	SHRQ $2, CX
	JZ   popDone

popLoop:
	XORL R8, R8
	XORL R9, R9
	XORL R10, R10
	XORL R11, R11
	POP4(0)
	POP4(1)
	POP4(2)
	POP4(3)
	POP4(4)
	POP4(5)
	POP4(6)
	POP4(7)
	POP4(8)
	POP4(9)
	POP4(10)
	POP4(11)
	POP4(12)
	POP4(13)
	POP4(14)
	POP4(15)
	MOVL R8, (DI)
	MOVL R9, 4(DI)
	MOVL R10, 8(DI)
	MOVL R11, 12(DI)
	ADDQ $512, SI
	ADDQ $16, DI
	DECQ CX
	JNZ  popLoop

popDone:
	RET

// func countWordsPOPCNT(q, rows *uint64, words, n int, counts *uint32)
TEXT ·countWordsPOPCNT(SB), NOSPLIT, $0-40
	MOVQ rows+8(FP), SI
	MOVQ n+24(FP), CX
	MOVQ counts+32(FP), DI

popRow:
	MOVQ q+0(FP), AX
	MOVQ words+16(FP), DX
	XORL R8, R8

popWord:
	MOVQ    (AX), R12
	ANDQ    (SI), R12
	POPCNTQ R12, R12
	ADDQ    R12, R8
	ADDQ    $8, AX
	ADDQ    $8, SI
	DECQ    DX
	JNZ     popWord
	MOVL    R8, (DI)
	ADDQ    $4, DI
	DECQ    CX
	JNZ     popRow
	RET

// Nibble popcount (AVX2 and AVX-512BW tiers): VPSHUFB looks up the
// popcount of each low and each high nibble in nibblePop, VPSADBW sums the
// bytes of each 64-bit lane.
DATA nibblePop<>+0(SB)/8, $0x0302020102010100
DATA nibblePop<>+8(SB)/8, $0x0403030203020201
GLOBL nibblePop<>(SB), RODATA|NOPTR, $16

DATA lowNibbles<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL lowNibbles<>(SB), RODATA|NOPTR, $8

// AVX2 tier, 1024-bit rows. The query stays in registers as its low nibbles
// (Y0-Y3) and its high nibbles shifted down (Y4-Y7), so each 32-byte chunk
// of a row costs one AND for the low nibbles and a shift and an AND for the
// high ones (the shift's stray bits meet zero query bits), then two VPSHUFB.
// Y8 = nibblePop, Y9 = 0.
//
// ROW2(off, D) leaves in D the 4 lane sums (VPSADBW) of the row at off(SI);
// clobbers Y10, Y11. Byte sums stay ≤ 32, far from overflow.
#define CHUNK2(off, QL, QH) \
	VPAND   off(SI), QL, Y10     \
	VPSHUFB Y10, Y8, Y10         \
	VPSRLW  $4, off(SI), Y11     \
	VPAND   Y11, QH, Y11         \
	VPSHUFB Y11, Y8, Y11

#define ROW2(off, D) \
	CHUNK2(off, Y0, Y4)          \
	VPADDB  Y11, Y10, D          \
	CHUNK2(off+32, Y1, Y5)       \
	VPADDB  Y10, D, D            \
	VPADDB  Y11, D, D            \
	CHUNK2(off+64, Y2, Y6)       \
	VPADDB  Y10, D, D            \
	VPADDB  Y11, D, D            \
	CHUNK2(off+96, Y3, Y7)       \
	VPADDB  Y10, D, D            \
	VPADDB  Y11, D, D            \
	VPSADBW Y9, D, D

// PAIR2(offA, offB, D, T): D = the lane sums of row A in the low and of row
// B in the high dword of each 64-bit lane.
#define PAIR2(offA, offB, D, T) \
	ROW2(offA, D)        \
	ROW2(offB, T)        \
	VPSLLQ $32, T, T     \
	VPOR   T, D, D

// QUAD2(A, B): A = per 128-bit lane, the partial counts of 4 rows as dwords,
// from the PAIR2 results A (rows 0, 1) and B (rows 2, 3); clobbers B, Y15.
#define QUAD2(A, B) \
	VPUNPCKLQDQ B, A, Y15 \
	VPUNPCKHQDQ B, A, A   \
	VPADDD      Y15, A, A

// func scan1024AVX2(q, rows *uint64, pops *uint32, n int, minc, counts *uint32, mask *uint8)
//
// The threshold decision (MASK8) runs in the loop, on the integer ports.
TEXT ·scan1024AVX2(SB), NOSPLIT, $0-56
	MOVQ         q+0(FP), AX
	MOVQ         rows+8(FP), SI
	MOVQ         pops+16(FP), BX
	MOVQ         n+24(FP), CX
	MOVQ         minc+32(FP), R10
	MOVQ         counts+40(FP), DI
	MOVQ         mask+48(FP), R8
	VBROADCASTI128 nibblePop<>(SB), Y8
	VPBROADCASTQ lowNibbles<>(SB), Y15
	VPXOR        Y9, Y9, Y9
	VMOVDQU      (AX), Y0
	VMOVDQU      32(AX), Y1
	VMOVDQU      64(AX), Y2
	VMOVDQU      96(AX), Y3
	VPSRLW       $4, Y0, Y4
	VPSRLW       $4, Y1, Y5
	VPSRLW       $4, Y2, Y6
	VPSRLW       $4, Y3, Y7
	VPAND        Y15, Y0, Y0
	VPAND        Y15, Y1, Y1
	VPAND        Y15, Y2, Y2
	VPAND        Y15, Y3, Y3
	VPAND        Y15, Y4, Y4
	VPAND        Y15, Y5, Y5
	VPAND        Y15, Y6, Y6
	VPAND        Y15, Y7, Y7
	SHRQ         $3, CX
	JZ           avx2Done

avx2Loop:
	PAIR2(0, 128, Y12, Y13)
	PAIR2(256, 384, Y13, Y14)
	QUAD2(Y12, Y13)
	PAIR2(512, 640, Y13, Y14)
	PAIR2(768, 896, Y14, Y15)
	QUAD2(Y13, Y14)
	// Y12 = rows 0-3, Y13 = rows 4-7, per lane: add the two lanes.
	VPERM2I128 $0x20, Y13, Y12, Y14
	VPERM2I128 $0x31, Y13, Y12, Y15
	VPADDD     Y15, Y14, Y14
	VMOVDQU    Y14, (DI)
	MASK8
	ADDQ       $1024, SI
	ADDQ       $32, BX
	ADDQ       $32, DI
	INCQ       R8
	DECQ       CX
	JNZ        avx2Loop

avx2Done:
	VZEROUPPER
	RET

// func countWordsAVX2(q, rows *uint64, words, n int, counts *uint32)
//
// Any row length: 32-byte chunks with the nibble popcount, the last
// words%4 words with POPCNTQ.
TEXT ·countWordsAVX2(SB), NOSPLIT, $0-40
	MOVQ         rows+8(FP), SI
	MOVQ         words+16(FP), R12
	MOVQ         n+24(FP), CX
	MOVQ         counts+32(FP), DI
	VBROADCASTI128 nibblePop<>(SB), Y8
	VPBROADCASTQ lowNibbles<>(SB), Y7
	VPXOR        Y9, Y9, Y9
	MOVQ         R12, R11
	ANDQ         $3, R11 // tail words
	SHRQ         $2, R12 // 32-byte chunks

avx2Row:
	MOVQ  q+0(FP), AX
	VPXOR Y4, Y4, Y4
	XORL  R8, R8
	MOVQ  R12, DX
	TESTQ DX, DX
	JZ    avx2Tail

avx2Chunk:
	VMOVDQU (AX), Y5
	VPAND   (SI), Y5, Y5
	VPSRLW  $4, Y5, Y6
	VPAND   Y7, Y5, Y5
	VPAND   Y7, Y6, Y6
	VPSHUFB Y5, Y8, Y5
	VPSHUFB Y6, Y8, Y6
	VPADDB  Y6, Y5, Y5
	VPSADBW Y9, Y5, Y5
	VPADDQ  Y5, Y4, Y4
	ADDQ    $32, AX
	ADDQ    $32, SI
	DECQ    DX
	JNZ     avx2Chunk

avx2Tail:
	MOVQ  R11, DX
	TESTQ DX, DX
	JZ    avx2Reduce

avx2TailWord:
	MOVQ    (AX), R13
	ANDQ    (SI), R13
	POPCNTQ R13, R13
	ADDQ    R13, R8
	ADDQ    $8, AX
	ADDQ    $8, SI
	DECQ    DX
	JNZ     avx2TailWord

avx2Reduce:
	HSUM256(R13)
	ADDQ         R13, R8
	MOVL         R8, (DI)
	ADDQ         $4, DI
	DECQ         CX
	JNZ          avx2Row
	VZEROUPPER
	RET

// func countWordsAVX512BW(q, rows *uint64, words, n int, counts *uint32)
//
// The AVX-512BW tier's general path (its 1024-bit kernel is in
// kernel_harleyseal_amd64.s). Any row length: 64-byte chunks, then the last words%8 words under the
// mask K2 (zeroed lanes count nothing).
#define BWCHUNK(Zv) \
	VPSRLW  $4, Zv, Z6   \
	VPANDQ  Z7, Zv, Zv   \
	VPANDQ  Z7, Z6, Z6   \
	VPSHUFB Zv, Z8, Zv   \
	VPSHUFB Z6, Z8, Z6   \
	VPADDB  Z6, Zv, Zv   \
	VPSADBW Z9, Zv, Zv   \
	VPADDQ  Zv, Z4, Z4

TEXT ·countWordsAVX512BW(SB), NOSPLIT, $0-40
	MOVQ            rows+8(FP), SI
	MOVQ            words+16(FP), R12
	MOVQ            counts+32(FP), DI
	VBROADCASTI32X4 nibblePop<>(SB), Z8
	VPBROADCASTQ    lowNibbles<>(SB), Z7
	VPXORQ          Z9, Z9, Z9

	TAILMASK
	MOVQ  n+24(FP), CX

bwRow:
	MOVQ   q+0(FP), AX
	VPXORQ Z4, Z4, Z4
	MOVQ   R12, DX
	TESTQ  DX, DX
	JZ     bwTail

bwChunk:
	VMOVDQU64 (AX), Z5
	VPANDQ    (SI), Z5, Z5
	BWCHUNK(Z5)
	ADDQ      $64, AX
	ADDQ      $64, SI
	DECQ      DX
	JNZ       bwChunk

bwTail:
	TESTQ R11, R11
	JZ    bwReduce
	VMOVDQU64.Z (AX), K2, Z5
	VMOVDQU64.Z (SI), K2, Z10
	VPANDQ      Z10, Z5, Z5
	BWCHUNK(Z5)
	ADDQ        R11, SI

bwReduce:
	HSUM512(R10)
	MOVL          R10, (DI)
	ADDQ          $4, DI
	DECQ          CX
	JNZ           bwRow
	VZEROUPPER
	RET
