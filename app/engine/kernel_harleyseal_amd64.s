#include "textflag.h"
#include "kernel_amd64.h"

// AVX-512BW tier, 1024-bit rows: a Harley–Seal carry-save popcount over the
// 16 words of a row, 8 rows at a time, on rows stored word-interleaved
// (putInterleaved): the vector at 64·k bytes into a block holds word k of
// its 8 rows, so 64-bit lane j is row j throughout and no transpose is
// needed. Per block:
//   - words 0-14, each ANDed with the query word (broadcast, kept in Z0-Z14),
//     go through a tree of 11 full adders (VPTERNLOGQ, 2 per adder) into
//     bit planes of weight 1, 2, 4 and 8: bit i of row j's count of those
//     words is sum_w w·plane_w[j][i];
//   - each plane and word 15 (ANDed with the query's nibbles in Z15, Z16)
//     is split into low and high nibbles and looked up (VPSHUFB) in a table
//     of weight·popcount(nibble);
//   - the low-nibble lookups are added to a bias of 64 (A), the high-nibble
//     ones subtracted from it (B), so one VPSADBW, sum of |A−B| = sum of
//     (A−B) over each lane's 8 bytes, is the row's count. Bytes stay in
//     range: A ≤ 64 + 4·(1+1+2+4+8) = 128, B ≥ 64 − 64 = 0.
// 72 instructions per 8 rows (VPMOVQD is 2 µops): 9 per 1024-bit pair.
// The threshold decision (MASK8, scalar) reads the counts back in the same
// loop, so that it runs on the integer ports beside the vector work.

// hsTables: popcount(nibble) + 64, 64 − popcount, and popcount times 1, 2,
// 4, 8; then the low-nibble mask.
DATA hsTables<>+0(SB)/8, $0x4342424142414140
DATA hsTables<>+8(SB)/8, $0x4443434243424241
DATA hsTables<>+16(SB)/8, $0x3d3e3e3f3e3f3f40
DATA hsTables<>+24(SB)/8, $0x3c3d3d3e3d3e3e3f
DATA hsTables<>+32(SB)/8, $0x0302020102010100
DATA hsTables<>+40(SB)/8, $0x0403030203020201
DATA hsTables<>+48(SB)/8, $0x0604040204020200
DATA hsTables<>+56(SB)/8, $0x0806060406040402
DATA hsTables<>+64(SB)/8, $0x0c08080408040400
DATA hsTables<>+72(SB)/8, $0x100c0c080c080804
DATA hsTables<>+80(SB)/8, $0x1810100810080800
DATA hsTables<>+88(SB)/8, $0x2018181018101008
DATA hsTables<>+96(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL hsTables<>(SB), RODATA|NOPTR, $104

// FA(a, b, c) is a full adder in place: a = a⊕b⊕c (the sum), then b = the
// majority of the old a, b, c, from the sum: b if b = c, else ¬sum (0xb2).
#define FA(a, b, c) \
	VPTERNLOGQ $0x96, c, b, a \
	VPTERNLOGQ $0xb2, c, a, b

// PLANE(P, T) adds the nibble lookups of the plane P in the table T to A
// (Z30) and subtracts the high ones from B (Z24); clobbers P, Z28.
#define PLANE(P, T) \
	VPANDQ  Z17, P, Z28  \
	VPSRLW  $4, P, P     \
	VPANDQ  Z17, P, P    \
	VPSHUFB Z28, T, Z28  \
	VPSHUFB P, T, P      \
	VPADDB  Z28, Z30, Z30 \
	VPSUBB  P, Z24, Z24

// func scan1024AVX512BW(q, rows *uint64, pops *uint32, n int, minc *uint32, counts *uint32, mask *uint8)
TEXT ·scan1024AVX512BW(SB), NOSPLIT, $0-56
	MOVQ            q+0(FP), AX
	MOVQ            rows+8(FP), SI
	MOVQ            pops+16(FP), BX
	MOVQ            n+24(FP), CX
	MOVQ            minc+32(FP), R10
	MOVQ            counts+40(FP), DI
	MOVQ            mask+48(FP), R8
	VPBROADCASTQ    0(AX), Z0
	VPBROADCASTQ    8(AX), Z1
	VPBROADCASTQ    16(AX), Z2
	VPBROADCASTQ    24(AX), Z3
	VPBROADCASTQ    32(AX), Z4
	VPBROADCASTQ    40(AX), Z5
	VPBROADCASTQ    48(AX), Z6
	VPBROADCASTQ    56(AX), Z7
	VPBROADCASTQ    64(AX), Z8
	VPBROADCASTQ    72(AX), Z9
	VPBROADCASTQ    80(AX), Z10
	VPBROADCASTQ    88(AX), Z11
	VPBROADCASTQ    96(AX), Z12
	VPBROADCASTQ    104(AX), Z13
	VPBROADCASTQ    112(AX), Z14
	VPBROADCASTQ    hsTables<>+96(SB), Z17
	VPBROADCASTQ    120(AX), Z15
	VPSRLW          $4, Z15, Z16
	VPANDQ          Z17, Z15, Z15 // word 15's low nibbles
	VPANDQ          Z17, Z16, Z16 // and its high ones, shifted down
	VBROADCASTI32X4 hsTables<>+0(SB), Z18
	VBROADCASTI32X4 hsTables<>+16(SB), Z19
	VBROADCASTI32X4 hsTables<>+32(SB), Z20
	VBROADCASTI32X4 hsTables<>+48(SB), Z21
	VBROADCASTI32X4 hsTables<>+64(SB), Z22
	VBROADCASTI32X4 hsTables<>+80(SB), Z23
	SHRQ            $3, CX
	JZ              hsDone

hsLoop:
	// Words 0-14 into planes: ones Z24, twos Z25, fours Z26, eights Z27.
	VPANDQ 0(SI), Z0, Z24
	VPANDQ 64(SI), Z1, Z25
	VPANDQ 128(SI), Z2, Z26
	FA(Z24, Z25, Z26)
	VPANDQ 192(SI), Z3, Z26
	VPANDQ 256(SI), Z4, Z27
	FA(Z24, Z26, Z27)
	VPANDQ 320(SI), Z5, Z27
	VPANDQ 384(SI), Z6, Z28
	FA(Z24, Z27, Z28)
	FA(Z25, Z26, Z27)
	VPANDQ 448(SI), Z7, Z27
	VPANDQ 512(SI), Z8, Z28
	FA(Z24, Z27, Z28)
	VPANDQ 576(SI), Z9, Z28
	VPANDQ 640(SI), Z10, Z29
	FA(Z24, Z28, Z29)
	FA(Z25, Z27, Z28)
	VPANDQ 704(SI), Z11, Z28
	VPANDQ 768(SI), Z12, Z29
	FA(Z24, Z28, Z29)
	VPANDQ 832(SI), Z13, Z29
	VPANDQ 896(SI), Z14, Z30
	FA(Z24, Z29, Z30)
	FA(Z25, Z28, Z29)
	FA(Z26, Z27, Z28)

	// Word 15 and the ones plane start A (Z30) and B (Z24).
	VPANDQ  960(SI), Z15, Z28
	VPSRLW  $4, 960(SI), Z29
	VPANDQ  Z29, Z16, Z29
	VPSHUFB Z28, Z20, Z28
	VPSHUFB Z29, Z20, Z29
	VPANDQ  Z17, Z24, Z30
	VPSRLW  $4, Z24, Z24
	VPANDQ  Z17, Z24, Z24
	VPSHUFB Z30, Z18, Z30
	VPSHUFB Z24, Z19, Z24
	VPADDB  Z28, Z30, Z30
	VPSUBB  Z29, Z24, Z24
	PLANE(Z25, Z21)
	PLANE(Z26, Z22)
	PLANE(Z27, Z23)
	VPSADBW Z24, Z30, Z30
	VPMOVQD Z30, (DI)
	MASK8

	ADDQ $1024, SI
	ADDQ $32, BX
	ADDQ $32, DI
	INCQ R8
	DECQ CX
	JNZ  hsLoop

hsDone:
	VZEROUPPER
	RET
