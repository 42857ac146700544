#include "textflag.h"

// Both kernels compare one query q against n rows (n a multiple of 8) and
// write counts[j] = popcount(q & row j) and, per 8 rows, a mask byte whose
// bit j is set when 2·count/(qpop+pops[j]) ≥ t. The division is VDIVPD,
// IEEE like Go's float64 division, so the decision matches score() exactly;
// 0/0 is NaN and compares false (two empty CLKs score 0).

// DICE8 turns the 8 counts in Y2 (int32) and the 8 popcounts at (BX) into a
// mask byte at (R8). Clobbers Z2-Z4, K1, R9. Needs Z30 = qpop, Z31 = t.
#define DICE8 \
	VCVTDQ2PD Y2, Z2 \
	VADDPD    Z2, Z2, Z2 \
	VMOVDQU   (BX), Y3 \
	VCVTDQ2PD Y3, Z3 \
	VADDPD    Z30, Z3, Z3 \
	VDIVPD    Z3, Z2, Z4 \
	VCMPPD    $0x1d, Z31, Z4, K1 \
	KMOVW     K1, R9 \
	MOVB      R9, (R8)

// ANDPOP computes in Za the 8 lane popcounts of q (Z0:Z1) AND the row at off(SI).
#define ANDPOP(off, Za, Zb) \
	VPANDQ   off(SI), Z0, Za \
	VPANDQ   off+64(SI), Z1, Zb \
	VPOPCNTQ Za, Za \
	VPOPCNTQ Zb, Zb \
	VPADDQ   Zb, Za, Za

// PAIRSUM interleaves and adds the lane sums of two rows: per 128-bit lane,
// [a0+a1, b0+b1].
#define PAIRSUM(Za, Zb, Zd, Zt) \
	VPUNPCKLQDQ Zb, Za, Zd \
	VPUNPCKHQDQ Zb, Za, Zt \
	VPADDQ      Zt, Zd, Zd

// LANESUM adds the 128-bit lanes of Za and Zb pairwise: [a.L0+a.L1, a.L2+a.L3,
// b.L0+b.L1, b.L2+b.L3] into Zd.
#define LANESUM(Za, Zb, Zd) \
	VSHUFI64X2 $0x88, Zb, Za, Z26 \
	VSHUFI64X2 $0xdd, Zb, Za, Z27 \
	VPADDQ     Z27, Z26, Zd

// func scan1024AVX512(q, rows *uint64, pops *uint32, n int, qpop, t float64, counts *uint32, mask *uint8)
TEXT ·scan1024AVX512(SB), NOSPLIT, $0-64
	MOVQ q+0(FP), AX
	MOVQ rows+8(FP), SI
	MOVQ pops+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ counts+48(FP), DI
	MOVQ mask+56(FP), R8
	VMOVDQU64    (AX), Z0
	VMOVDQU64    64(AX), Z1
	VBROADCASTSD qpop+32(FP), Z30
	VBROADCASTSD t+40(FP), Z31
	SHRQ $3, CX
	JZ   done1024

loop1024:
	ANDPOP(0, Z2, Z3)
	ANDPOP(128, Z4, Z5)
	ANDPOP(256, Z6, Z7)
	ANDPOP(384, Z8, Z9)
	ANDPOP(512, Z10, Z11)
	ANDPOP(640, Z12, Z13)
	ANDPOP(768, Z14, Z15)
	ANDPOP(896, Z16, Z17)
	PAIRSUM(Z2, Z4, Z18, Z19)
	PAIRSUM(Z6, Z8, Z20, Z21)
	PAIRSUM(Z10, Z12, Z22, Z23)
	PAIRSUM(Z14, Z16, Z24, Z25)
	LANESUM(Z18, Z20, Z18)
	LANESUM(Z22, Z24, Z22)
	LANESUM(Z18, Z22, Z28)
	VPMOVQD Z28, Y2
	VMOVDQU Y2, (DI)
	DICE8
	ADDQ $1024, SI
	ADDQ $32, BX
	ADDQ $32, DI
	INCQ R8
	DECQ CX
	JNZ  loop1024

done1024:
	VZEROUPPER
	RET

// func scanWordsAVX512(q, rows *uint64, words int, pops *uint32, n int, qpop, t float64, counts *uint32, mask *uint8)
TEXT ·scanWordsAVX512(SB), NOSPLIT, $0-72
	MOVQ rows+8(FP), SI
	MOVQ words+16(FP), R12

	// K2 masks the last words%8 words of a record; R11 = their bytes;
	// R12 = whole 8-word chunks.
	MOVQ  R12, CX
	ANDQ  $7, CX
	MOVQ  CX, R11
	SHLQ  $3, R11
	MOVQ  $1, R10
	SHLQ  CX, R10
	DECQ  R10
	KMOVW R10, K2
	SHRQ  $3, R12

	MOVQ n+32(FP), CX
	MOVQ counts+56(FP), DI

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
	VEXTRACTI64X4 $1, Z4, Y5
	VPADDQ        Y5, Y4, Y4
	VEXTRACTI128  $1, Y4, X5
	VPADDQ        X5, X4, X4
	VPSHUFD       $0x4e, X4, X5
	VPADDQ        X5, X4, X4
	VMOVQ         X4, R10
	MOVL          R10, (DI)
	ADDQ          $4, DI
	DECQ          CX
	JNZ           row

	// Second pass: the threshold decision, 8 rows at a time.
	MOVQ         pops+24(FP), BX
	MOVQ         n+32(FP), CX
	MOVQ         counts+56(FP), DI
	MOVQ         mask+64(FP), R8
	VBROADCASTSD qpop+40(FP), Z30
	VBROADCASTSD t+48(FP), Z31
	SHRQ         $3, CX
	JZ           doneWords

dice:
	VMOVDQU (DI), Y2
	DICE8
	ADDQ $32, BX
	ADDQ $32, DI
	INCQ R8
	DECQ CX
	JNZ  dice

doneWords:
	VZEROUPPER
	RET
