#include "textflag.h"

// func hint(p, size uintptr)
TEXT ·hint(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ p+0(FP), AX
	MOVQ size+8(FP), CX
	ADDQ AX, CX          // end
	ANDQ $-64, AX        // the line p is in
loop:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	CMPQ AX, CX
	JB   loop
	RET
